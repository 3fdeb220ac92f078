"""Positions during an incident (with an ETA for the elder) and offer delivery receipts."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import metrics
from core.errors import NotFound
from core.events.catalogue import EventName
from core.events.log import record_event
from dispatch import handoff_send
from dispatch.enums import ACTIVE_STATES, IncidentState
from dispatch.eta import distance_to_incident, eta_seconds
from dispatch.inputs import LocationIn
from dispatch.locks import lock_incident, lock_incidents
from dispatch.models import Incident, Offer
from dispatch.responders import store_fix
from dispatch.state_machine import IllegalTransition


async def _record_responder_position(
    session: AsyncSession,
    incident: Incident,
    responder_id: uuid.UUID,
    location: LocationIn,
    *,
    speed_kmh: float,
) -> None:
    distance = await distance_to_incident(session, incident, location.lat, location.lon)
    record_event(
        session,
        organization_id=incident.organization_id,
        incident_id=incident.id,
        name=EventName.RESPONDER_LOCATION,
        data={
            "responder_id": str(responder_id),
            "lat": location.lat,
            "lon": location.lon,
            "accuracy_m": location.accuracy_m,
            "recorded_at": (location.recorded_at or datetime.now(UTC)).isoformat(),
            "distance_m": round(distance),
            "eta_s": eta_seconds(distance, speed_kmh),
        },
    )


async def responder_moved(
    session: AsyncSession, *, responder_id: uuid.UUID, location: LocationIn, speed_kmh: float
) -> None:
    """Store a responder's fix; while they are assigned, it also goes on the incident's
    timeline (and so to the elder's phone and the officers' map) with an ETA."""
    assigned = await store_fix(session, responder_id=responder_id, location=location)
    if not assigned:
        return  # an older fix than the one we have, or not assigned anywhere
    for incident in await lock_incidents(session, assigned):
        if incident.assigned_responder_id != responder_id or incident.state not in (
            IncidentState.ACCEPTED,
            IncidentState.ON_SCENE,
        ):
            continue  # reassigned or closed before we had the lock
        await _record_responder_position(
            session, incident, responder_id, location, speed_kmh=speed_kmh
        )


async def elder_moved(
    session: AsyncSession, *, incident_id: uuid.UUID, location: LocationIn
) -> None:
    incident = await lock_incident(session, incident_id)
    if incident.state not in ACTIVE_STATES:
        raise IllegalTransition(f"the incident is {incident.state.value}")
    record_event(
        session,
        organization_id=incident.organization_id,
        incident_id=incident.id,
        name=EventName.ELDER_LOCATION,
        data={
            "lat": location.lat,
            "lon": location.lon,
            "accuracy_m": location.accuracy_m,
            "recorded_at": (location.recorded_at or datetime.now(UTC)).isoformat(),
        },
    )
    at = (
        location.lat,
        location.lon,
        location.accuracy_m,
        location.recorded_at or datetime.now(UTC),
    )
    await handoff_send.changed(session, incident, cause="elder_location", elder_at=at)


async def mark_received(
    session: AsyncSession, *, offer_id: uuid.UUID, responder_id: uuid.UUID, via: str
) -> None:
    """The offer reached the responder's phone. Idempotent: the first receipt counts.

    Offers change only under their incident's lock (core.uow: lock order)."""
    incident_id = await session.scalar(
        select(Offer.incident_id).where(Offer.id == offer_id, Offer.responder_id == responder_id)
    )
    if incident_id is None:
        raise NotFound("no such offer")
    await lock_incident(session, incident_id)
    offer = await session.get(Offer, offer_id, populate_existing=True)
    assert offer is not None  # offers are never deleted while their incident exists
    if offer.received_at is not None:
        return
    offer.received_at = datetime.now(UTC)
    record_event(
        session,
        organization_id=offer.organization_id,
        incident_id=offer.incident_id,
        name=EventName.OFFER_RECEIVED,
        data={"offer_id": str(offer.id), "responder_id": str(responder_id), "via": via},
    )
    waited = (offer.received_at - offer.sent_at).total_seconds()
    metrics.after_commit(session, lambda: metrics.OFFER_TO_RECEIPT.observe(waited))
