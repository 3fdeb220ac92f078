"""Appending to the per-organization event log inside the caller's transaction."""

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.events.models import EventSequence, IncidentEvent


async def next_event_id(session: AsyncSession, organization_id: uuid.UUID) -> int:
    stmt = (
        insert(EventSequence)
        .values(organization_id=organization_id, last_id=1)
        .on_conflict_do_update(
            index_elements=[EventSequence.organization_id],
            set_={"last_id": EventSequence.last_id + 1},
        )
        .returning(EventSequence.last_id)
    )
    return int((await session.execute(stmt)).scalar_one())


async def append_event(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    incident_id: uuid.UUID | None,
    name: str,
    data: dict[str, Any] | None = None,
) -> IncidentEvent:
    """Write one event; it becomes visible when the caller's transaction commits."""
    event = IncidentEvent(
        organization_id=organization_id,
        id=await next_event_id(session, organization_id),
        incident_id=incident_id,
        name=name,
        data=data or {},
    )
    session.add(event)
    await session.flush()
    return event


async def incident_timeline(session: AsyncSession, incident_id: uuid.UUID) -> list[IncidentEvent]:
    rows = await session.scalars(
        select(IncidentEvent)
        .where(IncidentEvent.incident_id == incident_id)
        .order_by(IncidentEvent.id)
    )
    return list(rows)
