"""Plain message objects: what dispatch hands to the notifications package."""

import enum
import uuid
from dataclasses import dataclass, field


class Route(enum.StrEnum):
    """How a message travels; the sender maps a route to the channel the settings enable."""

    PUSH = "push"
    SMS = "sms"
    HANDOFF = "handoff"  # the 1669 centre's webhook (a JSON document, signed)
    LINE = "line"  # a family contact's LINE (the organization's Official Account pushes)


@dataclass(frozen=True)
class Recipient:
    """Exactly one of: a staff account (responder, officer), an elder's phones, a phone number."""

    user_id: uuid.UUID | None = None
    elder_id: uuid.UUID | None = None
    phone: str | None = None


@dataclass(frozen=True)
class Message:
    organization_id: uuid.UUID
    kind: str  # offer, offer_withdrawn, help_coming, escalation, offer_sms, ...
    route: Route
    recipient: Recipient
    template: str
    language: str = "th"
    values: dict[str, str] = field(default_factory=dict)
    incident_id: uuid.UUID | None = None
    offer_id: uuid.UUID | None = None
    # Push only: how long FCM may hold it (an offer is worthless after its time to accept),
    # and whether it is an emergency alert (high priority, critical sound).
    ttl_s: int = 3600
    urgent: bool = False
