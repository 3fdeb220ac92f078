"""The protocol every channel implements, and what it reports back."""

import uuid
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Delivery:
    """One message to one address (an FCM token or a phone number)."""

    message_id: uuid.UUID
    address: str
    title: str
    body: str
    data: dict[str, str]
    ttl_s: int
    urgent: bool
    platform: str | None = None
    # Webhook routes (the 1669 hand-off): the secret shared with the receiver.
    secret: str | None = None


@dataclass(frozen=True)
class Outcome:
    ok: bool
    # Transient failure: try again, no sooner than this many seconds.
    retry_after_s: float | None = None
    # The address is dead (unregistered or invalid token): forget it.
    drop_address: bool = False
    error: str | None = None
    # What the receiver answered that identifies the message on its side (a receipt).
    receipt: str | None = None


class Channel(Protocol):
    """Sends deliveries; one outcome per delivery, in the same order. Never raises for a
    refused message: the outcome says what happened."""

    name: str

    async def send(self, deliveries: list[Delivery]) -> list[Outcome]: ...

    async def close(self) -> None: ...
