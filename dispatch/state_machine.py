"""The incident and offer state machines. Pure: they refuse illegal moves."""

from core.errors import Conflict
from dispatch.enums import IncidentState, OfferState

INCIDENT_TRANSITIONS: dict[IncidentState, frozenset[IncidentState]] = {
    # An officer may resolve before anyone accepted (e.g. handed to 1669).
    IncidentState.DISPATCHING: frozenset(
        {IncidentState.ACCEPTED, IncidentState.RESOLVED, IncidentState.CANCELLED}
    ),
    # Accepted -> accepted is a manual reassignment by an officer.
    IncidentState.ACCEPTED: frozenset(
        {
            IncidentState.ACCEPTED,
            IncidentState.ON_SCENE,
            IncidentState.RESOLVED,
            IncidentState.CANCELLED,
        }
    ),
    IncidentState.ON_SCENE: frozenset({IncidentState.RESOLVED, IncidentState.CANCELLED}),
    IncidentState.RESOLVED: frozenset(),
    IncidentState.CANCELLED: frozenset(),
}

OFFER_TRANSITIONS: dict[OfferState, frozenset[OfferState]] = {
    OfferState.PENDING: frozenset(
        {OfferState.ACCEPTED, OfferState.DECLINED, OfferState.EXPIRED, OfferState.WITHDRAWN}
    ),
    # A late "yes" still helps while nobody else has the incident.
    OfferState.EXPIRED: frozenset({OfferState.ACCEPTED, OfferState.WITHDRAWN}),
    OfferState.ACCEPTED: frozenset({OfferState.WITHDRAWN}),
    OfferState.DECLINED: frozenset(),
    OfferState.WITHDRAWN: frozenset(),
}


class IllegalTransition(Conflict):
    title = "Illegal state change"


def move_incident(current: IncidentState, target: IncidentState) -> IncidentState:
    if target not in INCIDENT_TRANSITIONS[current]:
        raise IllegalTransition(f"the incident is {current.value}; it cannot become {target.value}")
    return target


def move_offer(current: OfferState, target: OfferState) -> OfferState:
    if target not in OFFER_TRANSITIONS[current]:
        raise IllegalTransition(f"the offer is {current.value}; it cannot become {target.value}")
    return target


def is_closed(state: IncidentState) -> bool:
    return not INCIDENT_TRANSITIONS[state]
