"""Appending to the per-organization event log inside the caller's transaction."""

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.events.models import EventSequence, IncidentEvent


@dataclass(frozen=True)
class NewEvent:
    incident_id: uuid.UUID | None
    name: str
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


async def incident_timeline(session: AsyncSession, incident_id: uuid.UUID) -> list[IncidentEvent]:
    rows = await session.scalars(
        select(IncidentEvent)
        .where(IncidentEvent.incident_id == incident_id)
        .order_by(IncidentEvent.id)
    )
    return list(rows)
