"""Who may do what. Routes call these, or take them as dependencies; nothing else
decides access."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import PrincipalDep, SessionDep
from core import log_context
from core.errors import Forbidden, NotFound
from core.principal import Principal, PrincipalKind, StaffPrincipal
from dispatch.models import Incident
from dispatch.queries.facts import incident_facts, load_incident
from dispatch.queries.incidents import incident_view
from dispatch.views import IncidentOut
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


def require_staff(principal: Principal, *kinds: PrincipalKind) -> StaffPrincipal:
    """One of ``kinds``, signed in with an account (so with a user id)."""
    require_kind(principal, *kinds)
    if not isinstance(principal, StaffPrincipal):
        raise Forbidden("this action needs a signed-in account")
    return principal


def _responder(principal: PrincipalDep) -> StaffPrincipal:
    return require_staff(principal, RESPONDER)


# The calling responder, with their account id.
ResponderDep = Annotated[StaffPrincipal, Depends(_responder)]


@dataclass(frozen=True)
class IncidentAccess:
    """An incident loaded once and the caller's relation to it, authorized."""

    incident: Incident
    facts: IncidentFacts
    viewer: Viewer
    principal: Principal

    @property
    def user_id(self) -> uuid.UUID:
        """The acting account (officers, responders and admins all have one)."""
        if not isinstance(self.principal, StaffPrincipal):
            raise Forbidden("this action needs a signed-in account")
        return self.principal.user_id

    async def view(self, session: AsyncSession) -> IncidentOut:
        """The incident as the caller sees it now, after their command: the relation is
        read again from the changed row (an accept makes the caller the assignee)."""
        facts = replace(
            self.facts,
            state=self.incident.state,
            assigned_responder_id=self.incident.assigned_responder_id,
        )
        viewer = viewer_of(self.principal, facts) or self.viewer
        return await incident_view(session, self.incident, viewer=viewer, principal=self.principal)


def incident_guard(*allowed: Viewer) -> Callable[..., Awaitable[IncidentAccess]]:
    """A dependency: load ``{incident_id}`` and check the caller is one of ``allowed``
    (404 to someone with no relation to it, 403 to one who may see it but not do this)."""

    async def guard(
        incident_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
    ) -> IncidentAccess:
        incident = await load_incident(session, incident_id)
        log_context.concerning(incident.id)
        facts = await incident_facts(session, incident)
        viewer = require_incident_viewer(principal, facts, *allowed)
        return IncidentAccess(incident=incident, facts=facts, viewer=viewer, principal=principal)

    return guard


AnyViewer = Annotated[IncidentAccess, Depends(incident_guard(*Viewer))]
Officer = Annotated[IncidentAccess, Depends(incident_guard(Viewer.OFFICER))]
Offered = Annotated[IncidentAccess, Depends(incident_guard(Viewer.OFFERED))]
Assignee = Annotated[IncidentAccess, Depends(incident_guard(Viewer.ASSIGNED))]
OfferedOrAssigned = Annotated[
    IncidentAccess, Depends(incident_guard(Viewer.OFFERED, Viewer.ASSIGNED))
]
AssigneeOrOfficer = Annotated[
    IncidentAccess, Depends(incident_guard(Viewer.ASSIGNED, Viewer.OFFICER))
]
OfficerOrElder = Annotated[IncidentAccess, Depends(incident_guard(Viewer.OFFICER, Viewer.ELDER))]
ElderOrAssignee = Annotated[IncidentAccess, Depends(incident_guard(Viewer.ELDER, Viewer.ASSIGNED))]
