"""The transactional outbox: messages become rows in the transaction of their cause."""

import asyncio
import contextlib
from collections.abc import Iterator

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from notifications.messages import Message
from notifications.models import OutboxMessage
from notifications.texts import TEXTS, render

# FCM refuses payloads over 4 KiB; texts are cut well below that.
MAX_BODY_CHARS = 600


def render_payload(message: Message) -> dict[str, object]:
    title_key = f"{message.template}_title"
    title = render(title_key, message.language) if title_key in TEXTS else "พิกัด Phikat"
    body = render(message.template, message.language, **message.values)
    data = {
        "kind": message.kind,
        "incident_id": str(message.incident_id) if message.incident_id else "",
        "offer_id": str(message.offer_id) if message.offer_id else "",
    }
    return {
        "title": title,
        "body": body[:MAX_BODY_CHARS],
        "data": data,
        "ttl_s": message.ttl_s,
        "urgent": message.urgent,
    }


# Senders running in this process, woken as soon as a transaction that queued messages
# commits (senders in other processes find them by polling).
_wakers: set[asyncio.Event] = set()
_QUEUED = "phikat.outbox_queued"


@contextlib.contextmanager
def wake_on_commit(event: asyncio.Event) -> Iterator[None]:
    _wakers.add(event)
    try:
        yield
    finally:
        _wakers.discard(event)


@sa_event.listens_for(Session, "after_commit")
def _wake_senders(session: Session) -> None:
    if session.info.pop(_QUEUED, False):
        for waker in _wakers:
            waker.set()


def enqueue(session: AsyncSession, message: Message) -> OutboxMessage:
    """Add the message to the caller's transaction; the sender picks it up after commit."""
    session.sync_session.info[_QUEUED] = True
    row = OutboxMessage(
        organization_id=message.organization_id,
        incident_id=message.incident_id,
        offer_id=message.offer_id,
        kind=message.kind,
        route=message.route.value,
        recipient_user_id=message.recipient.user_id,
        recipient_elder_id=message.recipient.elder_id,
        recipient_phone=message.recipient.phone,
        language=message.language,
        payload=render_payload(message),
    )
    session.add(row)
    return row
