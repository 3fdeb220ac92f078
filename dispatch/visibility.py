"""Who may see an incident, and how much of it. Pure: decided from facts about it.

Officers of the organization (and the admin) see everything. A responder sees
the incidents they were offered or assigned, but only their own offers, and
an elder's medical details only while they are the assigned responder of an
open incident. The elder's device sees its own incidents: states, who is
coming and from where, never the other candidates or the escalation dossier.
"""

import enum
import uuid
from dataclasses import dataclass
from typing import Any

from core.principal import Principal, PrincipalKind
from dispatch.enums import ACTIVE_STATES, IncidentState


class Viewer(enum.StrEnum):
    OFFICER = "officer"
    ASSIGNED = "assigned"
    OFFERED = "offered"
    ELDER = "elder"


@dataclass(frozen=True)
class IncidentFacts:
    organization_id: uuid.UUID
    elder_id: uuid.UUID | None  # None: the elder's record was erased
    state: IncidentState
    assigned_responder_id: uuid.UUID | None
    offered_responder_ids: frozenset[uuid.UUID]


def viewer_of(principal: Principal, facts: IncidentFacts) -> Viewer | None:
    """How ``principal`` relates to the incident; None means it may not see it at all."""
    if principal.kind is PrincipalKind.ADMIN:
        return Viewer.OFFICER
    if principal.organization_id != facts.organization_id:
        return None
    if principal.kind is PrincipalKind.OFFICER:
        return Viewer.OFFICER
    if principal.kind is PrincipalKind.RESPONDER:
        if principal.user_id is not None and principal.user_id == facts.assigned_responder_id:
            return Viewer.ASSIGNED
        if principal.user_id in facts.offered_responder_ids:
            return Viewer.OFFERED
        return None
    if principal.kind is PrincipalKind.ELDER_DEVICE and principal.elder_id == facts.elder_id:
        return Viewer.ELDER
    return None


def sees_medical(viewer: Viewer, state: IncidentState) -> bool:
    return viewer is Viewer.OFFICER or (viewer is Viewer.ASSIGNED and state in ACTIVE_STATES)


# Events about offers concern one responder; others see only their own.
OFFER_EVENTS = frozenset(
    {"offer.sent", "offer.received", "offer.declined", "offer.expired", "offer.withdrawn"}
)


LOCATION_EVENTS = frozenset({"responder.location", "elder.location"})

# For the officers alone: a responder lost access while assigned (reassign the incident).
OFFICER_EVENTS = frozenset({"responder.removed"})


def _sees_location(viewer: Viewer, principal: Principal, name: str, data: dict[str, Any]) -> bool:
    """Positions are for those who need them: the elder sees who is coming, the assigned
    responder sees the elder (and their own track); a responder merely offered, neither."""
    if name == "elder.location":
        return viewer in (Viewer.ASSIGNED, Viewer.ELDER)
    return viewer is Viewer.ELDER or (
        viewer is Viewer.ASSIGNED and data.get("responder_id") == str(principal.user_id)
    )


def event_view(
    viewer: Viewer, principal: Principal, name: str, data: dict[str, Any]
) -> dict[str, Any] | None:
    """The event's data as this viewer may see it, or None to hide the event."""
    if viewer is Viewer.OFFICER:
        return data
    if name in OFFICER_EVENTS:
        return None
    if name in OFFER_EVENTS:
        if viewer is Viewer.ELDER or data.get("responder_id") != str(principal.user_id):
            return None
        return data
    if name in LOCATION_EVENTS:
        return data if _sees_location(viewer, principal, name, data) else None
    if name == "incident.escalated":
        # The fallback dossier carries medical details: officers only.
        return {k: v for k, v in data.items() if k in ("level", "to", "reason", "fallback_phone")}
    return data
