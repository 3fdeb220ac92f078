"""Who may see an incident: the facts ``dispatch.visibility`` decides on."""

import uuid
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import select
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
    """The facts of many incidents (the live channel's replay): two queries, whatever
    their number."""
    ids = set(incident_ids)
    if not ids:
        return {}
    offered: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for incident_id, responder_id in await session.execute(
        select(Offer.incident_id, Offer.responder_id).where(Offer.incident_id.in_(ids))
    ):
        offered[incident_id].add(responder_id)
    rows = await session.execute(
        select(
            Incident.id,
            Incident.organization_id,
            Incident.elder_id,
            Incident.state,
            Incident.assigned_responder_id,
        ).where(Incident.id.in_(ids))
    )
    return {
        row.id: IncidentFacts(
            organization_id=row.organization_id,
            elder_id=row.elder_id,
            state=row.state,
            assigned_responder_id=row.assigned_responder_id,
            offered_responder_ids=frozenset(offered[row.id]),
        )
        for row in rows
    }
