"""The outbox's two short transactions: claim due rows with a lease, record results.

Nothing here talks to a provider: the sender sends between the two
transactions, with no transaction open (``notifications.sender``).

- **Claim**: due rows of one route, ``FOR NO KEY UPDATE SKIP LOCKED`` (a row
  another sender is claiming is skipped, never waited for), get a fresh
  ``lease_token``, one more attempt, and ``next_attempt_at`` moved to the
  lease's end: should no result be recorded by then (the sender died), the row
  is due again for every sender. A 1669 hand-off version is claimed only once
  every earlier version of its incident is settled, so the centre gets them in
  order.
- **Record**: only rows that still carry our lease token are settled; a row
  whose lease expired and was claimed again belongs to its new holder.

Lock order (``core.uow``): device tokens (dead ones pruned) → outbox rows
(ascending id) → the event counter (``message.failed``, at commit). The
incident is not locked: an event's foreign key takes ``FOR KEY SHARE``, which
does not conflict with the ``FOR NO KEY UPDATE`` that commands hold.
"""

import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Integer, cast, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.events.catalogue import EventName, HandoffDelivered, MessageFailed
from core.events.log import record_event
from core.tenancy.models import User
from notifications.channels.base import Delivery, Outcome
from notifications.line_models import LineAccount, LineLink
from notifications.messages import Route
from notifications.models import HandoffEndpoint, OutboxMessage, OutboxState, PushDevice
from notifications.outbox import enqueue_fallback_sms

log = logging.getLogger("phikat.sender")

MAX_BACKOFF_S = 300.0

# What one message got from its channel: (address, outcome) per address tried.
Results = Mapping[uuid.UUID, Sequence[tuple[str, Outcome]]]


@dataclass(frozen=True)
class Claimed:
    """A leased message, as plain data: what the sender needs outside the transaction."""

    id: uuid.UUID
    attempts: int
    deliveries: list[Delivery]


@dataclass(frozen=True)
class Lease:
    token: uuid.UUID
    rows: list[Claimed]


def backoff_s(attempts: int, retry_after_s: float | None) -> float:
    return max(retry_after_s or 0.0, min(2.0**attempts, MAX_BACKOFF_S))


async def claim(
    session: AsyncSession, *, route: str, owner: str, lease_s: float, limit: int
) -> Lease:
    """Lease up to ``limit`` due messages of ``route`` for ``lease_s`` seconds."""
    token = uuid.uuid4()
    conditions = [
        OutboxMessage.state == OutboxState.PENDING,
        OutboxMessage.route == route,
        OutboxMessage.next_attempt_at <= func.now(),
    ]
    if route == Route.HANDOFF:
        conditions.append(~_earlier_version_pending())
    due = (
        select(OutboxMessage.id, OutboxMessage.lease_token.label("previous"))
        .where(*conditions)
        .order_by(OutboxMessage.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True, key_share=True)
        .cte("due")
    )
    leased = (
        update(OutboxMessage)
        .where(OutboxMessage.id == due.c.id)
        .values(
            attempts=OutboxMessage.attempts + 1,
            lease_token=token,
            lease_owner=owner,
            next_attempt_at=func.now() + timedelta(seconds=lease_s),
        )
        .returning(OutboxMessage, due.c.previous)
        .execution_options(synchronize_session=False)
    )
    rows = [(row, previous) for row, previous in await session.execute(leased)]
    if not rows:
        return Lease(token, [])
    addresses = await _addresses(session, [row for row, _ in rows])
    again = sum(1 for _, previous in rows if previous is not None)
    if again:
        log.warning(
            "%d %s messages claimed after their sender's lease expired without a result: "
            "sending them again (they may have gone out once already)",
            again,
            route,
        )
    claimed = [
        Claimed(
            id=row.id,
            attempts=row.attempts,
            deliveries=[_delivery(row, *address) for address in addresses[row.id]],
        )
        for row, _ in rows
    ]
    return Lease(token, claimed)


def _version(row: type[OutboxMessage] | Any) -> ColumnElement[int]:
    return cast(row.payload["data"]["version"].astext, Integer)


def _earlier_version_pending() -> ColumnElement[bool]:
    """An earlier hand-off version of the same incident still waits (due, backing off
    or leased): the centre gets an incident's versions in order, one at a time."""
    earlier = aliased(OutboxMessage)
    return (
        select(earlier.id)
        .where(
            earlier.route == Route.HANDOFF.value,
            earlier.incident_id == OutboxMessage.incident_id,
            earlier.state == OutboxState.PENDING,
            _version(earlier) < _version(OutboxMessage),
        )
        .exists()
    )


def _delivery(row: OutboxMessage, address: str, platform: str | None) -> Delivery:
    payload: dict[str, Any] = row.payload
    if row.route == Route.HANDOFF:  # address: the centre's URL; "platform": the secret
        body = json.dumps(payload["document"], ensure_ascii=False, separators=(",", ":"))
        return Delivery(
            message_id=row.id,
            address=address,
            title=payload["title"],
            body=body,
            data=payload["data"],
            ttl_s=payload["ttl_s"],
            urgent=payload["urgent"],
            secret=platform,
        )
    if row.route == Route.LINE:  # address: the LINE user id; "platform": the access token
        return Delivery(
            message_id=row.id,  # also the X-Line-Retry-Key: the same on every attempt
            address=address,
            title=payload["line"]["altText"],
            body=json.dumps(payload["line"], ensure_ascii=False, separators=(",", ":")),
            data=payload["data"],
            ttl_s=payload["ttl_s"],
            urgent=payload["urgent"],
            secret=platform,
        )
    return Delivery(
        message_id=row.id,
        address=address,
        title=payload["title"],
        body=payload["body"],
        data=payload["data"],
        ttl_s=payload["ttl_s"],
        urgent=payload["urgent"],
        platform=platform,
    )


async def _addresses(
    session: AsyncSession, rows: list[OutboxMessage]
) -> dict[uuid.UUID, list[tuple[str, str | None]]]:
    """Where each message goes: FCM tokens (with platform) or a phone number."""
    users = {r.recipient_user_id for r in rows if r.recipient_user_id}
    elders = {r.recipient_elder_id for r in rows if r.recipient_elder_id}
    by_owner: dict[uuid.UUID, list[PushDevice]] = defaultdict(list)
    if users or elders:
        for device in await session.scalars(
            select(PushDevice).where(
                PushDevice.user_id.in_(users) | PushDevice.elder_id.in_(elders)
            )
        ):
            owner = device.user_id or device.elder_id
            assert owner is not None
            by_owner[owner].append(device)
    phones: dict[uuid.UUID, str | None] = {}
    if users:
        for user_id, phone in await session.execute(
            select(User.id, User.phone).where(User.id.in_(users))
        ):
            phones[user_id] = phone
    found: dict[uuid.UUID, list[tuple[str, str | None]]] = {}
    centres = {r.organization_id for r in rows if r.route == Route.HANDOFF}
    endpoints: dict[uuid.UUID, tuple[str, str | None]] = {}
    if centres:
        for endpoint in await session.scalars(
            select(HandoffEndpoint).where(HandoffEndpoint.organization_id.in_(centres))
        ):
            endpoints[endpoint.organization_id] = (endpoint.url, endpoint.secret)
    line = await _line_addresses(session, [r for r in rows if r.route == Route.LINE])
    for row in rows:
        if row.route == Route.HANDOFF:
            centre = endpoints.get(row.organization_id)
            found[row.id] = [centre] if centre else []
        elif row.route == Route.LINE:
            found[row.id] = line.get(row.id, [])
        elif row.route == Route.PUSH:
            owner = row.recipient_user_id or row.recipient_elder_id
            devices = by_owner.get(owner, []) if owner else []
            found[row.id] = [(d.fcm_token, d.platform.value) for d in devices]
        else:
            phone = row.recipient_phone or (
                phones.get(row.recipient_user_id) if row.recipient_user_id else None
            )
            found[row.id] = [(phone, None)] if phone else []
    return found


async def _line_addresses(
    session: AsyncSession, rows: list[OutboxMessage]
) -> dict[uuid.UUID, list[tuple[str, str | None]]]:
    """The family contact's LINE user id and the organization's access token, looked up
    at send time: an unlinked contact or a removed account has no address (the message
    fails, and its SMS fallback is queued)."""
    if not rows:
        return {}
    orgs = {r.organization_id for r in rows}
    tokens = {
        org: token
        for org, token in await session.execute(
            select(LineAccount.organization_id, LineAccount.access_token).where(
                LineAccount.organization_id.in_(orgs)
            )
        )
    }
    elders = {r.recipient_elder_id for r in rows if r.recipient_elder_id}
    users: dict[tuple[uuid.UUID, str], str] = {}
    for elder_id, phone, user_id in await session.execute(
        select(LineLink.elder_id, LineLink.phone, LineLink.line_user_id).where(
            LineLink.elder_id.in_(elders)
        )
    ):
        users[(elder_id, phone)] = user_id
    found: dict[uuid.UUID, list[tuple[str, str | None]]] = {}
    for row in rows:
        token = tokens.get(row.organization_id)
        user = (
            users.get((row.recipient_elder_id, row.recipient_phone))
            if row.recipient_elder_id and row.recipient_phone
            else None
        )
        found[row.id] = [(user, token)] if user and token else []
    return found


async def record(
    session: AsyncSession,
    *,
    lease_token: uuid.UUID,
    channel: str,
    results: Results,
    max_attempts: int,
) -> int:
    """Settle the messages of one lease that are still ours; returns how many were.

    Runs again as a whole after a deadlock (``core.uow.in_transaction``): it only
    reads ``results``.
    """
    dead = sorted({a for outcomes in results.values() for a, o in outcomes if o.drop_address})
    if dead:
        doomed = await session.scalars(
            select(PushDevice.id)
            .where(PushDevice.fcm_token.in_(dead))
            .order_by(PushDevice.id)
            .with_for_update()
        )
        await session.execute(delete(PushDevice).where(PushDevice.id.in_(list(doomed))))
    rows = await session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.id.in_(list(results)),
            OutboxMessage.lease_token == lease_token,
            OutboxMessage.state == OutboxState.PENDING,
        )
        .order_by(OutboxMessage.id)
        .with_for_update(key_share=True)
    )
    settled = 0
    for row in rows:
        _settle(session, row, results[row.id], channel=channel, max_attempts=max_attempts)
        settled += 1
    return settled


def _settle(
    session: AsyncSession,
    row: OutboxMessage,
    results: Sequence[tuple[str, Outcome]],
    *,
    channel: str,
    max_attempts: int,
) -> None:
    now = datetime.now(UTC)
    row.lease_token = None
    if results:
        row.channel = channel
    if any(o.ok for _, o in results):
        row.state, row.sent_at, row.last_error = OutboxState.SENT, now, None
        if row.route == Route.HANDOFF and row.incident_id is not None:
            receipt = next((o.receipt for _, o in results if o.ok), None)
            delivered: HandoffDelivered = {
                "message_id": str(row.id),
                "version": int(row.payload["data"]["version"]),
                "attempts": row.attempts,
                "reference": receipt,
            }
            record_event(
                session,
                organization_id=row.organization_id,
                incident_id=row.incident_id,
                name=EventName.HANDOFF_DELIVERED,
                data=dict(delivered),
            )
        return
    transient = [o for _, o in results if o.retry_after_s is not None]
    nowhere = "no LINE link" if row.route == Route.LINE else "no device or phone to send to"
    errors = "; ".join(o.error or "failed" for _, o in results) or nowhere
    row.last_error = errors[:2000]
    if transient and row.attempts < max_attempts:
        wait = max(backoff_s(row.attempts, o.retry_after_s) for o in transient)
        row.next_attempt_at = now + timedelta(seconds=wait)
        return
    row.state = OutboxState.FAILED
    if row.route == Route.LINE and row.payload.get("fallback_sms"):
        # The family still hears it: the same text by SMS, in this transaction.
        enqueue_fallback_sms(session, row)
    if row.incident_id is not None:
        failed: MessageFailed = {
            "message_id": str(row.id),
            "kind": row.kind,
            "route": row.route,
            "recipient_user_id": str(row.recipient_user_id) if row.recipient_user_id else None,
            "attempts": row.attempts,
            "error": row.last_error,
        }
        record_event(
            session,
            organization_id=row.organization_id,
            incident_id=row.incident_id,
            name=EventName.MESSAGE_FAILED,
            data=dict(failed),
        )
