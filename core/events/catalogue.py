"""Every event the log may hold: its name, its payload type and who may read it.

Deny by default: an event reaches the organization's officers, and beyond them
only the readers its entry names. A name must be an ``EventName`` to be
recorded (``record_event`` is typed so), and ``CATALOGUE`` must give every name
an entry (tests/test_event_catalogue.py), so an event cannot be added without
deciding who sees it. The live channel and the HTTP timeline apply the same
entry (dispatch.visibility).
"""

import enum
from dataclasses import dataclass
from typing import Any, NotRequired

# pydantic validates these (tests) only as typing_extensions TypedDicts on Python 3.11.
from typing_extensions import TypedDict


class EventName(enum.StrEnum):
    INCIDENT_OPENED = "incident.opened"
    INCIDENT_JOINED = "incident.joined"
    OFFER_SENT = "offer.sent"
    OFFER_RECEIVED = "offer.received"
    OFFER_UNRECEIVED = "offer.unreceived"
    OFFER_DECLINED = "offer.declined"
    OFFER_EXPIRED = "offer.expired"
    OFFER_WITHDRAWN = "offer.withdrawn"
    INCIDENT_ACCEPTED = "incident.accepted"
    INCIDENT_ESCALATED = "incident.escalated"
    INCIDENT_ON_SCENE = "incident.on_scene"
    INCIDENT_ARRIVAL_OVERDUE = "incident.arrival_overdue"
    INCIDENT_RESOLVED = "incident.resolved"
    INCIDENT_CANCELLED = "incident.cancelled"
    RESPONDER_LOCATION = "responder.location"
    RESPONDER_REMOVED = "responder.removed"
    ELDER_LOCATION = "elder.location"
    MESSAGE_FAILED = "message.failed"
    HANDOFF_SENT = "handoff.sent"
    HANDOFF_DELIVERED = "handoff.delivered"
    HANDOFF_ANSWERED = "handoff.answered"
    CHECKIN_RECEIVED = "checkin.received"


class Reader(enum.StrEnum):
    """Who, besides the officers, may read an incident's event."""

    OFFERED = "offered"  # a responder the incident was offered to
    ASSIGNED = "assigned"  # the responder assigned to it
    ELDER = "elder"  # the elder's own device


# --- payloads ---------------------------------------------------------------------


class Point(TypedDict):
    lat: float
    lon: float


class ZoneRef(TypedDict):
    id: str
    name: str
    covers: bool


class IgnoredField(TypedDict):
    field: str
    reason: str


class IncidentOpened(TypedDict):
    elder_id: str
    trigger: str
    location: Point
    accuracy_m: float | None
    location_source: str
    zone: ZoneRef | None
    battery_pct: int | None
    opened_by_user_id: str | None
    ignored: NotRequired[list[IgnoredField]]  # unusable parts of the SOS body, dropped


class IncidentJoined(TypedDict):
    trigger: str
    location: Point | None
    accuracy_m: float | None
    location_updated: bool
    battery_pct: int | None
    by_user_id: str | None
    has_idempotency_key: bool
    ignored: NotRequired[list[IgnoredField]]


class OfferSent(TypedDict):
    offer_id: str
    responder_id: str
    wave: int
    expires_at: str
    distance_m: int | None
    in_zone_team: bool


class OfferReceived(TypedDict):
    offer_id: str
    responder_id: str
    via: str


class OfferUnreceived(TypedDict):
    offer_id: str
    responder_id: str
    fallback: str


class OfferClosed(TypedDict):
    """offer.declined, offer.expired."""

    offer_id: str
    responder_id: str
    wave: int


class OfferWithdrawn(TypedDict):
    offer_id: str
    responder_id: str
    reason: str


class IncidentAccepted(TypedDict):
    responder_id: str
    offer_id: str | None
    by: str
    officer_id: str | None
    previous_responder_id: str | None


class _Escalated(TypedDict):
    level: int
    to: str
    reason: str


class IncidentEscalated(_Escalated, total=False):
    # Level 2 (the hand-off to 1669) only.
    officer_id: str | None
    fallback_phone: str
    handoff: dict[str, Any]


class ResponderOnly(TypedDict):
    """incident.on_scene, responder.removed."""

    responder_id: str


class ArrivalOverdue(TypedDict):
    responder_id: str
    accepted_at: str | None


class IncidentResolved(TypedDict):
    outcome: str
    note: str | None
    by: str
    user_id: str | None


class IncidentCancelled(TypedDict):
    reason: str
    by: str
    user_id: str | None


class ResponderLocation(TypedDict):
    responder_id: str
    lat: float
    lon: float
    accuracy_m: float | None
    recorded_at: str
    distance_m: int
    eta_s: int


class ElderLocation(TypedDict):
    lat: float
    lon: float
    accuracy_m: float | None
    recorded_at: str


class CheckinReceived(TypedDict):
    """A check-in that came after its miss had opened (or joined) this incident."""

    captured_at: str
    verdict: str  # on_time, late, after_grace (dispatch.checkins.schedule.Verdict)
    due_at: str
    by_user_id: str | None  # a caregiver or officer on the elder's behalf; None: the elder


class MessageFailed(TypedDict):
    message_id: str
    kind: str
    route: str
    recipient_user_id: str | None
    attempts: int
    error: str | None


class HandoffSent(TypedDict):
    """A version of the 1669 hand-off record queued for the province centre."""

    message_id: str
    version: int
    cause: str


class HandoffDelivered(TypedDict):
    """The centre answered 2xx to a version; ``reference`` is its receipt, if any."""

    message_id: str
    version: int
    attempts: int
    reference: str | None


class HandoffAnswered(TypedDict):
    """The centre's answer in the ASAP lifecycle (signed callback)."""

    answer_id: str
    status: str  # accepted, rejected, dispatched, arrived, closed
    reason: str | None
    disposition: str | None
    reference: str | None
    answered_at: str


# --- who reads what ---------------------------------------------------------------

INVOLVED = frozenset(Reader)
RESPONDERS = frozenset({Reader.OFFERED, Reader.ASSIGNED})


@dataclass(frozen=True)
class EventSpec:
    payload: type[Any]  # a TypedDict
    readers: frozenset[Reader] = frozenset()  # empty: the officers alone
    # Responders read it only when its ``responder_id`` is theirs (their own offer,
    # their own track); the elder's device is not a responder and is not limited so.
    own_only: bool = False
    # What readers other than the officers see of the data; None: all of it.
    shown_keys: frozenset[str] | None = None


CATALOGUE: dict[EventName, EventSpec] = {
    EventName.INCIDENT_OPENED: EventSpec(IncidentOpened, INVOLVED),
    EventName.INCIDENT_JOINED: EventSpec(IncidentJoined, INVOLVED),
    EventName.OFFER_SENT: EventSpec(OfferSent, RESPONDERS, own_only=True),
    EventName.OFFER_RECEIVED: EventSpec(OfferReceived, RESPONDERS, own_only=True),
    # Operational: which phone did not confirm, which message failed and why.
    EventName.OFFER_UNRECEIVED: EventSpec(OfferUnreceived),
    EventName.OFFER_DECLINED: EventSpec(OfferClosed, RESPONDERS, own_only=True),
    EventName.OFFER_EXPIRED: EventSpec(OfferClosed, RESPONDERS, own_only=True),
    EventName.OFFER_WITHDRAWN: EventSpec(OfferWithdrawn, RESPONDERS, own_only=True),
    EventName.INCIDENT_ACCEPTED: EventSpec(IncidentAccepted, INVOLVED),
    # The hand-off dossier (medical facts, contacts) is for the officers alone.
    EventName.INCIDENT_ESCALATED: EventSpec(
        IncidentEscalated,
        INVOLVED,
        shown_keys=frozenset({"level", "to", "reason", "fallback_phone"}),
    ),
    EventName.INCIDENT_ON_SCENE: EventSpec(ResponderOnly, INVOLVED),
    EventName.INCIDENT_ARRIVAL_OVERDUE: EventSpec(
        ArrivalOverdue, frozenset({Reader.ASSIGNED}), own_only=True
    ),
    EventName.INCIDENT_RESOLVED: EventSpec(IncidentResolved, INVOLVED),
    EventName.INCIDENT_CANCELLED: EventSpec(IncidentCancelled, INVOLVED),
    # The elder sees who is coming; the assigned responder their own track.
    EventName.RESPONDER_LOCATION: EventSpec(
        ResponderLocation, frozenset({Reader.ELDER, Reader.ASSIGNED}), own_only=True
    ),
    # A responder lost access while assigned: for the officers, to reassign.
    EventName.RESPONDER_REMOVED: EventSpec(ResponderOnly),
    EventName.ELDER_LOCATION: EventSpec(ElderLocation, frozenset({Reader.ELDER, Reader.ASSIGNED})),
    EventName.MESSAGE_FAILED: EventSpec(MessageFailed),
    # The 1669 hand-off's delivery and the centre's answers: the officers' business.
    EventName.HANDOFF_SENT: EventSpec(HandoffSent),
    EventName.HANDOFF_DELIVERED: EventSpec(HandoffDelivered),
    EventName.HANDOFF_ANSWERED: EventSpec(HandoffAnswered),
    # The elder checked in after all: good news for everyone on the incident.
    EventName.CHECKIN_RECEIVED: EventSpec(CheckinReceived, INVOLVED),
}


def spec_of(name: str) -> EventSpec | None:
    """The catalogue entry of a stored event's name; None for a name it does not know."""
    try:
        return CATALOGUE[EventName(name)]
    except ValueError:
        return None
