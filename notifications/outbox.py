"""The transactional outbox: messages become rows in the transaction of their cause."""

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import Iterator

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from notifications.messages import Message, Route
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


# Senders' lanes running in this process, by route, woken as soon as a transaction that
# queued messages of their route commits (senders in other processes find them by
# polling). Only that route's lanes: an SOS queues pushes and family messages, and
# waking every lane cost an empty claim transaction per lane per commit.
_wakers: dict[str, set[asyncio.Event]] = defaultdict(set)
_QUEUED = "phikat.outbox_queued"  # session.info: the routes the transaction queued


@contextlib.contextmanager
def wake_on_commit(event: asyncio.Event, route: str) -> Iterator[None]:
    _wakers[route].add(event)
    try:
        yield
    finally:
        _wakers[route].discard(event)


def _queued(session: AsyncSession, route: str) -> None:
    session.sync_session.info.setdefault(_QUEUED, set()).add(route)


@sa_event.listens_for(Session, "after_commit")
def _wake_senders(session: Session) -> None:
    for route in session.info.pop(_QUEUED, ()):
        for waker in _wakers.get(route, ()):
            waker.set()


@sa_event.listens_for(Session, "after_rollback")
def _forget_queued(session: Session) -> None:
    session.info.pop(_QUEUED, None)


def enqueue(
    session: AsyncSession, message: Message, *, extra: dict[str, object] | None = None
) -> OutboxMessage:
    """Add the message to the caller's transaction; the sender picks it up after commit.
    ``extra``: more of the payload for its route (LINE: the Flex message)."""
    _queued(session, message.route.value)
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
        payload={**render_payload(message), **(extra or {})},
    )
    session.add(row)
    return row


def enqueue_document(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    incident_id: uuid.UUID,
    kind: str,
    document: dict[str, object],
    version: int,
) -> OutboxMessage:
    """Queue a JSON document for the organization's 1669 centre (Route.HANDOFF); the
    address and the signing secret are looked up when it is sent."""
    _queued(session, Route.HANDOFF.value)
    row = OutboxMessage(
        organization_id=organization_id,
        incident_id=incident_id,
        kind=kind,
        route=Route.HANDOFF.value,
        language="th",
        payload={
            "title": kind,
            "body": "",
            "data": {"kind": kind, "incident_id": str(incident_id), "version": str(version)},
            "ttl_s": 0,
            "urgent": True,
            "document": document,
        },
    )
    session.add(row)
    return row


def enqueue_fallback_sms(session: AsyncSession, line_row: OutboxMessage) -> OutboxMessage:
    """A family LINE message that failed for good, again as an SMS to the contact's phone
    (the sender calls this in the transaction that records the failure)."""
    _queued(session, Route.SMS.value)
    keep = ("title", "body", "data", "ttl_s", "urgent")
    row = OutboxMessage(
        organization_id=line_row.organization_id,
        incident_id=line_row.incident_id,
        offer_id=line_row.offer_id,
        kind=line_row.kind,
        route=Route.SMS.value,
        recipient_elder_id=line_row.recipient_elder_id,
        recipient_phone=line_row.recipient_phone,
        language=line_row.language,
        payload={k: v for k, v in line_row.payload.items() if k in keep},
    )
    session.add(row)
    return row
