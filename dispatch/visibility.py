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

from core.events.catalogue import EventName, Reader, spec_of
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


LOCATION_EVENTS = frozenset({EventName.RESPONDER_LOCATION, EventName.ELDER_LOCATION})

_READER = {
    Viewer.OFFERED: Reader.OFFERED,
    Viewer.ASSIGNED: Reader.ASSIGNED,
    Viewer.ELDER: Reader.ELDER,
}


def event_view(
    viewer: Viewer, principal: Principal, name: str, data: dict[str, Any]
) -> dict[str, Any] | None:
    """The event's data as this viewer may see it, or None to hide the event.

    Officers see everything; anyone else what the event's catalogue entry grants them
    (core.events.catalogue), and nothing of a name the catalogue does not know."""
    if viewer is Viewer.OFFICER:
        return data
    spec = spec_of(name)
    if spec is None or _READER[viewer] not in spec.readers:
        return None
    if (
        spec.own_only
        and viewer is not Viewer.ELDER
        and data.get("responder_id") != str(principal.user_id)
    ):
        return None
    if spec.shown_keys is not None:
        return {k: v for k, v in data.items() if k in spec.shown_keys}
    return data
