"""Who may see an incident: the facts ``dispatch.visibility`` decides on."""

import uuid
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from dispatch.models import Incident, Offer
from dispatch.visibility import IncidentFacts


async def load_incident(session: AsyncSession, incident_id: uuid.UUID) -> Incident:
    incident = await session.get(Incident, incident_id)
    if incident is None:
        raise NotFound("no such incident")
    return incident


async def incident_facts(session: AsyncSession, incident: Incident) -> IncidentFacts:
    """The facts of a loaded incident: one query, for who was offered it."""
    offered = await session.scalars(
        select(Offer.responder_id).where(Offer.incident_id == incident.id)
    )
    return IncidentFacts(
        organization_id=incident.organization_id,
        elder_id=incident.elder_id,
        state=incident.state,
        assigned_responder_id=incident.assigned_responder_id,
        offered_responder_ids=frozenset(offered),
    )


async def load_facts(
    session: AsyncSession, incident_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, IncidentFacts]:
    """The facts of many incidents (each live batch, the live channel's replay): one
    statement, whatever their number."""
    ids = set(incident_ids)
    if not ids:
        return {}
    offered = func.array_agg(Offer.responder_id).filter(Offer.responder_id.is_not(None))
    connection = await session.connection()
    rows = await connection.execute(
        select(
            Incident.id,
            Incident.organization_id,
            Incident.elder_id,
            Incident.state,
            Incident.assigned_responder_id,
            offered.label("offered"),
        )
        .outerjoin(Offer, Offer.incident_id == Incident.id)
        .where(Incident.id.in_(ids))
        .group_by(Incident.id)
    )
    return {
        row.id: IncidentFacts(
            organization_id=row.organization_id,
            elder_id=row.elder_id,
            state=row.state,
            assigned_responder_id=row.assigned_responder_id,
            offered_responder_ids=frozenset(row.offered or ()),
        )
        for row in rows
    }
