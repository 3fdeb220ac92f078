"""Firing due deadlines: rows claimed with FOR UPDATE SKIP LOCKED, one per transaction.

Why not a job library such as procrastinate: a deadline's effect (expire an
offer, open the next wave, escalate) and the mark that it fired must commit in
*one* transaction, or a crash between them fires it twice or never. Our own
rows in the same database and the same SQLAlchemy transaction give exactly
that; a job queue marks its job done in a transaction of its own (at least
once), and its own connection pool cannot enqueue inside ours.
"""

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import log_context, metrics
from core.db_errors import database_unavailable
from core.outage import Outage
from core.uow import in_transaction, unit_of_work
from dispatch import escalation, lifecycle, offers
from dispatch.checkins import flow as checkin_flow
from dispatch.enums import DeadlineKind
from dispatch.models import Deadline

log = logging.getLogger("phikat.deadlines")


_CHECKIN_KINDS = (
    DeadlineKind.CHECKIN_REMINDER,
    DeadlineKind.CHECKIN_MISSED,
    DeadlineKind.CHECKIN_ESCALATE,
)


async def fire(session: AsyncSession, deadline: Deadline, *, now: datetime) -> None:
    """Apply one deadline's effect; each handler is a no-op when the moment has passed."""
    if deadline.kind in _CHECKIN_KINDS:
        await checkin_flow.deadline_fired(session, deadline, now=now)
        return
    assert deadline.incident_id is not None
    if deadline.kind is DeadlineKind.OFFER_EXPIRY:
        assert deadline.offer_id is not None
        await offers.expire_offer(
            session, incident_id=deadline.incident_id, offer_id=deadline.offer_id
        )
    elif deadline.kind is DeadlineKind.OFFICER_TIMEOUT:
        await escalation.officer_timeout(session, incident_id=deadline.incident_id)
    elif deadline.kind is DeadlineKind.RECEIPT:
        assert deadline.offer_id is not None
        await offers.receipt_overdue(
            session, incident_id=deadline.incident_id, offer_id=deadline.offer_id
        )
    elif deadline.kind is DeadlineKind.ARRIVAL:
        await lifecycle.arrival_overdue(
            session, incident_id=deadline.incident_id, responder_id=deadline.responder_id
        )


MAX_RETRY_DELAY_S = 300


async def fire_one(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    organization_id: uuid.UUID | None = None,
) -> bool:
    """Claim and fire the most overdue deadline. False when none is due."""
    claimed: list[tuple[int, uuid.UUID | None]] = []  # (deadline, its incident)
    due = select(Deadline).where(Deadline.fired_at.is_(None), Deadline.due_at <= now)
    if organization_id is not None:
        due = due.where(Deadline.organization_id == organization_id)

    async def claim_and_fire(session: AsyncSession) -> bool:
        deadline = await session.scalar(
            due.order_by(Deadline.due_at, Deadline.id).limit(1).with_for_update(skip_locked=True)
        )
        if deadline is None:
            return False
        claimed.append((deadline.id, deadline.incident_id))
        with log_context.about(deadline.incident_id):
            await fire(session, deadline, now=now)
        if deadline.elder_id is not None:
            # A check-in cycle leaves 4 rows a day per elder: gone once fired, in the same
            # transaction as the effect (exactly once, as marking it would be).
            await session.delete(deadline)
        else:
            deadline.fired_at = datetime.now(UTC)
        return True

    try:
        # A deadlock with a command on the same incident runs the claim again.
        return await in_transaction(sessionmaker, claim_and_fire, what="fire a deadline")
    except Exception as exc:
        if not claimed or (isinstance(exc, DBAPIError) and database_unavailable(exc)):
            # An outage is not the deadline's fault: nothing was committed, and the
            # loop backs off and logs once per outage (no traceback per deadline).
            raise
        deadline_id, incident_id = claimed[-1]
        with log_context.about(incident_id):
            log.exception("deadline %s failed; it will be retried", deadline_id)
        await _postpone(sessionmaker, deadline_id, repr(exc))
        return True


async def _postpone(
    sessionmaker: async_sessionmaker[AsyncSession], deadline_id: int, error: str
) -> None:
    """Retry a failing deadline later, so it cannot block the ones behind it."""
    async with unit_of_work(sessionmaker) as session:
        deadline = await session.get(Deadline, deadline_id, with_for_update=True)
        if deadline is None or deadline.fired_at is not None:
            return
        deadline.attempts += 1
        deadline.last_error = error[:2000]
        delay = min(2**deadline.attempts, MAX_RETRY_DELAY_S)
        deadline.due_at = datetime.now(UTC) + timedelta(seconds=delay)


async def fire_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    now: datetime | None = None,
    organization_id: uuid.UUID | None = None,
    limit: int = 1000,
) -> int:
    """Fire every deadline due at ``now`` (default: the current time), optionally of one
    organization only; returns how many fired."""
    fired = 0
    while fired < limit and await fire_one(
        sessionmaker, now=now or datetime.now(UTC), organization_id=organization_id
    ):
        fired += 1
    return fired


async def run_worker(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    stop: asyncio.Event,
    poll_interval_s: float = 0.5,
) -> None:
    """Fire deadlines until ``stop`` is set. Any number of workers may run at once."""
    log.info("deadline worker started (polling every %.1fs)", poll_interval_s)
    outage = Outage(log, "firing deadlines")
    while not stop.is_set():
        wait = poll_interval_s
        try:
            await fire_due(sessionmaker)
            outage.succeeded()
            metrics.heartbeat()
        except Exception as exc:
            # Nothing is lost: the deadline's transaction rolled back and stays due.
            wait = max(wait, outage.failed(exc))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await stop.wait()
    log.info("deadline worker stopped")
