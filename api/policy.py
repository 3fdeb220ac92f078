"""Who may do what. Routes call these; nothing else decides access."""

import uuid

from core.errors import Forbidden, NotFound
from core.principal import Principal, PrincipalKind
from dispatch.visibility import IncidentFacts, Viewer, viewer_of

ADMIN = PrincipalKind.ADMIN
OFFICER = PrincipalKind.OFFICER
RESPONDER = PrincipalKind.RESPONDER
ELDER_DEVICE = PrincipalKind.ELDER_DEVICE


def require_kind(principal: Principal, *kinds: PrincipalKind) -> None:
    if principal.kind not in kinds:
        allowed = ", ".join(k.value for k in kinds)
        raise Forbidden(f"this action is for {allowed}; you are {principal.kind.value}")


def require_org(principal: Principal, organization_id: uuid.UUID, *kinds: PrincipalKind) -> None:
    """Acting on an organization's collection: the admin, or one of ``kinds`` of that org."""
    if principal.is_admin:
        return
    require_kind(principal, *kinds)
    if principal.organization_id != organization_id:
        raise Forbidden("this belongs to another organization")


def require_org_object(
    principal: Principal, organization_id: uuid.UUID, *kinds: PrincipalKind, what: str
) -> None:
    """Acting on one object: another organization's object is reported as not found,
    so ids cannot be probed across tenants."""
    if principal.is_admin:
        return
    require_kind(principal, *kinds)
    if principal.organization_id != organization_id:
        raise NotFound(f"no such {what}")


def require_incident_viewer(principal: Principal, facts: IncidentFacts, *allowed: Viewer) -> Viewer:
    """How the principal relates to the incident, if it is one of ``allowed``.

    Someone with no relation to the incident gets 404 (ids cannot be probed);
    someone who may see it but not do this gets 403.
    """
    viewer = viewer_of(principal, facts)
    if viewer is None:
        raise NotFound("no such incident")
    if viewer not in allowed:
        raise Forbidden(f"this action is not for the incident's {viewer.value}")
    return viewer
