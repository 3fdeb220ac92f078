"""The outbox sender: claims due messages with SKIP LOCKED, sends, records the outcome.

A message is claimed, sent and marked in one transaction. A crash before the
mark leaves it pending (sent again later: at least once; FCM's collapse key
and the app's offer id make a repeat harmless); once marked sent it is never
sent again. Transient failures back off (Retry-After honoured, at least a
minute for QUOTA_EXCEEDED); after ``max_attempts`` the message fails and the
officers are told with a ``message.failed`` event.
"""

import asyncio
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.events.log import record_event
from core.tenancy.models import User
from core.uow import unit_of_work
from notifications.channels.base import Channel, Delivery, Outcome
from notifications.messages import Route
from notifications.models import OutboxMessage, OutboxState, PushDevice
from notifications.outbox import wake_on_commit

log = logging.getLogger("phikat.sender")

MAX_BACKOFF_S = 300.0


@dataclass
class Channels:
    push: Channel
    sms: Channel

    def for_route(self, route: str) -> Channel:
        return self.push if route == Route.PUSH else self.sms

    async def close(self) -> None:
        await self.push.close()
        await self.sms.close()


def backoff_s(attempts: int, retry_after_s: float | None) -> float:
    return max(retry_after_s or 0.0, min(2.0**attempts, MAX_BACKOFF_S))


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
    for row in rows:
        if row.route == Route.PUSH:
            owner = row.recipient_user_id or row.recipient_elder_id
            devices = by_owner.get(owner, []) if owner else []
            found[row.id] = [(d.fcm_token, d.platform.value) for d in devices]
        else:
            phone = row.recipient_phone or (
                phones.get(row.recipient_user_id) if row.recipient_user_id else None
            )
            found[row.id] = [(phone, None)] if phone else []
    return found


async def send_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    channels: Channels,
    *,
    limit: int = 500,
    max_attempts: int = 6,
) -> int:
    """Send one batch of due messages; returns how many were handled."""
    async with unit_of_work(sessionmaker) as session:
        rows = list(
            await session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.state == OutboxState.PENDING,
                    OutboxMessage.next_attempt_at <= datetime.now(UTC),
                )
                .order_by(OutboxMessage.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        if not rows:
            return 0
        addresses = await _addresses(session, rows)
        outcomes: dict[uuid.UUID, list[tuple[str, Outcome]]] = defaultdict(list)
        for route in (Route.PUSH, Route.SMS):
            batch = [
                (row, address, platform)
                for row in rows
                if row.route == route
                for address, platform in addresses[row.id]
            ]
            if not batch:
                continue
            deliveries = [
                Delivery(
                    message_id=row.id,
                    address=address,
                    title=row.payload["title"],
                    body=row.payload["body"],
                    data=row.payload["data"],
                    ttl_s=row.payload["ttl_s"],
                    urgent=row.payload["urgent"],
                    platform=platform,
                )
                for row, address, platform in batch
            ]
            channel = channels.for_route(route)
            for (row, address, _), outcome in zip(
                batch, await channel.send(deliveries), strict=True
            ):
                row.channel = channel.name
                outcomes[row.id].append((address, outcome))
        dead = [a for results in outcomes.values() for a, o in results if o.drop_address]
        if dead:
            await session.execute(delete(PushDevice).where(PushDevice.fcm_token.in_(dead)))
        for row in rows:
            _settle(session, row, outcomes.get(row.id, []), max_attempts=max_attempts)
        return len(rows)


def _settle(
    session: AsyncSession,
    row: OutboxMessage,
    results: list[tuple[str, Outcome]],
    *,
    max_attempts: int,
) -> None:
    now = datetime.now(UTC)
    row.attempts += 1
    if any(o.ok for _, o in results):
        row.state, row.sent_at, row.last_error = OutboxState.SENT, now, None
        return
    transient = [o for _, o in results if o.retry_after_s is not None]
    errors = "; ".join(o.error or "failed" for _, o in results) or "no device or phone to send to"
    row.last_error = errors[:2000]
    if transient and row.attempts < max_attempts:
        wait = max(backoff_s(row.attempts, o.retry_after_s) for o in transient)
        row.next_attempt_at = now + timedelta(seconds=wait)
        return
    row.state = OutboxState.FAILED
    if row.incident_id is not None:
        record_event(
            session,
            organization_id=row.organization_id,
            incident_id=row.incident_id,
            name="message.failed",
            data={
                "message_id": str(row.id),
                "kind": row.kind,
                "route": row.route,
                "recipient_user_id": str(row.recipient_user_id) if row.recipient_user_id else None,
                "attempts": row.attempts,
                "error": row.last_error,
            },
        )


async def run_sender(
    sessionmaker: async_sessionmaker[AsyncSession],
    channels: Channels,
    *,
    stop: asyncio.Event,
    poll_interval_s: float = 0.2,
) -> None:
    """Send until ``stop`` is set; any number of senders may run at once."""
    log.info("outbox sender started (push: %s, sms: %s)", channels.push.name, channels.sms.name)
    wakeup = asyncio.Event()
    with wake_on_commit(wakeup):
        while not stop.is_set():
            wakeup.clear()
            try:
                while await send_due(sessionmaker, channels):
                    pass
            except Exception:
                log.exception("sending the outbox failed; retrying")
            waiting = {asyncio.create_task(stop.wait()), asyncio.create_task(wakeup.wait())}
            await asyncio.wait(
                waiting, timeout=poll_interval_s, return_when=asyncio.FIRST_COMPLETED
            )
            for task in waiting:
                task.cancel()
