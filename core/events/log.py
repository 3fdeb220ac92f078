"""Appending to the per-organization event log inside the caller's transaction.

Services *record* events as they change state; the unit of work writes them
all just before commit (``flush_recorded_events``), so the organization's
event counter, which stays locked until commit, is always taken last.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from core.events.catalogue import EventName
from core.events.models import EventSequence, IncidentEvent
from core.signals import EVENTS_CHANNEL, notify


@dataclass(frozen=True)
class NewEvent:
    incident_id: uuid.UUID | None
    name: EventName
    data: dict[str, Any] = field(default_factory=dict)


async def reserve_event_ids(session: AsyncSession, organization_id: uuid.UUID, count: int) -> int:
    """Take ``count`` consecutive ids; returns the last. Locks the org's counter until commit."""
    stmt = (
        insert(EventSequence)
        .values(organization_id=organization_id, last_id=count)
        .on_conflict_do_update(
            index_elements=[EventSequence.organization_id],
            set_={"last_id": EventSequence.last_id + count},
        )
        .returning(EventSequence.last_id)
    )
    return int((await session.execute(stmt)).scalar_one())


async def append_events(
    session: AsyncSession, organization_id: uuid.UUID, events: list[NewEvent]
) -> list[IncidentEvent]:
    """Write events; they become visible when the caller's transaction commits.

    Call this last in a transaction: from here to commit, other writers of the
    same organization's events wait (that wait is what keeps ids in commit order).
    """
    if not events:
        return []
    last = await reserve_event_ids(session, organization_id, len(events))
    rows = [
        IncidentEvent(
            organization_id=organization_id,
            id=last - len(events) + 1 + n,
            incident_id=event.incident_id,
            name=event.name,
            data=event.data,
        )
        for n, event in enumerate(events)
    ]
    session.add_all(rows)
    await session.flush()
    return rows


_PENDING = "phikat.pending_events"


def record_event(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    incident_id: uuid.UUID | None,
    name: EventName,
    data: dict[str, Any] | None = None,
) -> None:
    """Queue an event to be written with this transaction; ``name`` must be in the
    catalogue, which says who may read it."""
    pending = session.sync_session.info.setdefault(_PENDING, [])
    pending.append((organization_id, NewEvent(incident_id, name, data or {})))


async def flush_recorded_events(session: AsyncSession) -> list[IncidentEvent]:
    """Write every recorded event; call right before commit."""
    pending: list[tuple[uuid.UUID, NewEvent]] = session.sync_session.info.pop(_PENDING, [])
    by_org: dict[uuid.UUID, list[NewEvent]] = defaultdict(list)
    for organization_id, new_event in pending:
        by_org[organization_id].append(new_event)
    written: list[IncidentEvent] = []
    # A fixed order of counter locks: two transactions never wait on each other crosswise.
    for organization_id in sorted(by_org):
        rows = await append_events(session, organization_id, by_org[organization_id])
        written += rows
        # Delivered at commit to every listening process (the live hubs): ids only.
        await notify(session, EVENTS_CHANNEL, f"{organization_id}:{rows[-1].id}")
    return written


@event.listens_for(Session, "before_commit")
def _refuse_to_lose_events(session: Session) -> None:
    if session.info.get(_PENDING):
        raise RuntimeError("events were recorded but not flushed before commit")


@event.listens_for(Session, "after_rollback")
def _forget_events(session: Session) -> None:
    session.info.pop(_PENDING, None)


async def incident_timeline(session: AsyncSession, incident_id: uuid.UUID) -> list[IncidentEvent]:
    rows = await session.scalars(
        select(IncidentEvent)
        .where(IncidentEvent.incident_id == incident_id)
        .order_by(IncidentEvent.id)
    )
    return list(rows)
