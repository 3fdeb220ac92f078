"""Retention of positions: the trail of a closed incident is deleted after a while.

The trail is the ``elder.location`` and ``responder.location`` events reported while
the incident was open, and the positions of later SOS presses (``incident.joined``).
Positions the elder's phone sent outside incidents (``elder_position``, safe zones)
are deleted the same number of days after they were received.
What stays is the incident itself: its SOS point, states, times, zone and outcome,
which the response-time reports need.

Any number of sweepers may run at once (every worker process runs one): each claims
incidents with ``FOR UPDATE SKIP LOCKED``, so two never purge the same incident, and
a purged incident is marked (``trail_purged_at``) and never looked at again.
"""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, null, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.events.models import IncidentEvent
from core.outage import Outage
from core.uow import unit_of_work
from dispatch.enums import IncidentState
from dispatch.models import Incident
from dispatch.visibility import LOCATION_EVENTS
from dispatch.wander.models import ElderPosition

log = logging.getLogger("phikat.retention")

CLOSED_STATES = (IncidentState.RESOLVED, IncidentState.CANCELLED)
BATCH_SIZE = 200


@dataclass
class PurgeReport:
    cutoff: datetime
    incidents: int = 0
    positions: int = 0
    sos_fixes: int = 0
    elder_positions: int = 0  # outside incidents (safe zones)

    def add(self, other: "PurgeReport") -> None:
        self.incidents += other.incidents
        self.positions += other.positions
        self.sos_fixes += other.sos_fixes
        self.elder_positions += other.elder_positions


async def purge_trails(session: AsyncSession, incident_ids: Sequence[uuid.UUID]) -> PurgeReport:
    """Delete the positions reported during these incidents (the caller holds their rows).

    Returns the counts; ``cutoff`` is left to the caller.
    """
    report = PurgeReport(cutoff=datetime.now(UTC))
    if not incident_ids:
        return report
    ids = list(incident_ids)
    deleted = await session.execute(
        delete(IncidentEvent)
        .where(IncidentEvent.incident_id.in_(ids), IncidentEvent.name.in_(LOCATION_EVENTS))
        .returning(IncidentEvent.id)
    )
    report.positions = len(deleted.all())
    # A later press's position is a point of the trail too; the event itself (a second
    # press happened) stays, its position cleared to null (the key stays: readers and
    # the catalogue's payload type expect it).
    stripped = await session.execute(
        update(IncidentEvent)
        .where(
            IncidentEvent.incident_id.in_(ids),
            IncidentEvent.name == "incident.joined",
            func.jsonb_typeof(IncidentEvent.data["location"]) == "object",
        )
        .values(data=IncidentEvent.data.op("||")(func.jsonb_build_object("location", null())))
        .returning(IncidentEvent.id)
        .execution_options(synchronize_session=False)
    )
    report.sos_fixes = len(stripped.all())
    await session.execute(
        update(Incident)
        .where(Incident.id.in_(ids))
        .values(trail_purged_at=func.now())
        .execution_options(synchronize_session=False)
    )
    report.incidents = len(ids)
    return report


async def purge_batch(session: AsyncSession, *, cutoff: datetime, limit: int) -> PurgeReport:
    """Purge the trails of up to ``limit`` incidents closed before ``cutoff``."""
    due = await session.scalars(
        select(Incident.id)
        .where(
            Incident.closed_at.is_not(None),
            Incident.trail_purged_at.is_(None),
            Incident.closed_at < cutoff,
            Incident.state.in_(CLOSED_STATES),
        )
        .order_by(Incident.closed_at)
        .limit(limit)
        .with_for_update(skip_locked=True, key_share=True)
    )
    report = await purge_trails(session, list(due))
    report.cutoff = cutoff
    return report


async def purge_elder_positions(session: AsyncSession, *, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` positions sent outside incidents and received before ``cutoff``."""
    doomed = (
        select(ElderPosition.id)
        .where(ElderPosition.received_at < cutoff)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    deleted = await session.execute(
        delete(ElderPosition).where(ElderPosition.id.in_(doomed)).returning(ElderPosition.id)
    )
    return len(deleted.all())


def retention_cutoff(retention_days: int, now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) - timedelta(days=retention_days)


async def purge_expired_trails(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    retention_days: int,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
) -> PurgeReport:
    """Purge every trail that is due, one committed batch at a time."""
    total = PurgeReport(cutoff=retention_cutoff(retention_days, now))
    while True:
        async with unit_of_work(sessionmaker) as session:
            batch = await purge_batch(session, cutoff=total.cutoff, limit=batch_size)
        total.add(batch)
        if batch.incidents < batch_size:
            break
    while True:
        async with unit_of_work(sessionmaker) as session:
            n = await purge_elder_positions(session, cutoff=total.cutoff, limit=batch_size * 25)
        total.elder_positions += n
        if n < batch_size * 25:
            return total


async def run_retention(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    stop: asyncio.Event,
    retention_days: int,
    interval_s: float,
) -> None:
    """Sweep at start and then every ``interval_s`` until ``stop`` is set."""
    log.info(
        "retention sweep started (trails kept %d days, sweeping every %.0fs)",
        retention_days,
        interval_s,
    )
    outage = Outage(log, "the retention sweep")
    while not stop.is_set():
        wait = interval_s
        try:
            report = await purge_expired_trails(sessionmaker, retention_days=retention_days)
            outage.succeeded()
            if report.elder_positions:
                log.info(
                    "deleted %d positions sent outside incidents before %s",
                    report.elder_positions,
                    report.cutoff.isoformat(),
                )
            if report.incidents:
                log.info(
                    "deleted the trails of %d incidents closed before %s (%d positions)",
                    report.incidents,
                    report.cutoff.isoformat(),
                    report.positions + report.sos_fixes,
                )
        except Exception as exc:
            wait = min(wait, outage.failed(exc))  # soon again, but backing off
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                await stop.wait()
    log.info("retention sweep stopped")
