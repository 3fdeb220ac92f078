"""The incident's life once offered: accepted (first accept wins) or assigned by an
officer, on scene, resolved or cancelled.

Every function locks the incident row first (``lock_incident``: concurrent accepts
queue on it, and the first wins), runs in the caller's transaction and never commits.
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.events.catalogue import EventName
from dispatch import handoff_send, outgoing
from dispatch.enums import DeadlineKind, IncidentState, OfferState, Outcome
from dispatch.incident_log import record, schedule
from dispatch.locks import lock_incident
from dispatch.models import Incident, Offer, Responder
from dispatch.offers import OPEN_OFFER_STATES, offer_of, withdraw, withdraw_open_offers
from dispatch.policy_store import get_policy
from dispatch.state_machine import IllegalTransition, move_incident, move_offer


async def accept(
    session: AsyncSession, *, incident_id: uuid.UUID, responder_id: uuid.UUID, speed_kmh: float
) -> Incident:
    """First accept wins: the incident row lock makes the race a queue."""
    incident = await lock_incident(session, incident_id)
    offer = await offer_of(session, incident.id, responder_id)
    if offer is None:
        raise NotFound("no such incident")
    if incident.assigned_responder_id == responder_id and offer.state is OfferState.ACCEPTED:
        return incident  # a repeated tap by the winner
    if incident.state is not IncidentState.DISPATCHING:
        if incident.state in (IncidentState.ACCEPTED, IncidentState.ON_SCENE):
            raise IllegalTransition("another responder has already accepted this incident")
        raise IllegalTransition(f"the incident is {incident.state.value}")
    offer.state = move_offer(offer.state, OfferState.ACCEPTED)
    offer.responded_at = datetime.now(UTC)
    await _take(session, incident, responder_id, speed_kmh, by="responder", offer=offer)
    return incident


async def assign(
    session: AsyncSession,
    *,
    incident_id: uuid.UUID,
    responder_id: uuid.UUID,
    officer_id: uuid.UUID,
    speed_kmh: float,
) -> Incident:
    """An officer dispatches a responder by hand (also to replace the one assigned)."""
    incident = await lock_incident(session, incident_id)
    responder = await session.get(Responder, responder_id)
    if responder is None or responder.organization_id != incident.organization_id:
        raise NotFound("no such responder in this organization")
    if incident.assigned_responder_id == responder_id:
        return incident
    previous = incident.assigned_responder_id
    offer = await offer_of(session, incident.id, responder_id)
    if offer is not None and offer.state in OPEN_OFFER_STATES:
        offer.state = move_offer(offer.state, OfferState.ACCEPTED)
        offer.responded_at = datetime.now(UTC)
    else:
        offer = None
    if previous is not None:
        previous_offer = await offer_of(session, incident.id, previous)
        if previous_offer is not None and previous_offer.state is OfferState.ACCEPTED:
            withdraw(session, incident, previous_offer, reason="reassigned")
    await _take(
        session,
        incident,
        responder_id,
        speed_kmh,
        by="officer",
        offer=offer,
        officer_id=officer_id,
        previous=previous,
    )
    await outgoing.assigned_to_you(session, incident, responder_id)
    if previous is not None:
        await outgoing.stand_down(session, incident, previous, why="reassigned")
    return incident


async def _take(
    session: AsyncSession,
    incident: Incident,
    responder_id: uuid.UUID,
    speed_kmh: float,
    *,
    by: str,
    offer: Offer | None,
    officer_id: uuid.UUID | None = None,
    previous: uuid.UUID | None = None,
) -> None:
    now = datetime.now(UTC)
    incident.state = move_incident(incident.state, IncidentState.ACCEPTED)
    incident.assigned_responder_id = responder_id
    incident.accepted_at = now
    record(
        session,
        incident,
        EventName.INCIDENT_ACCEPTED,
        responder_id=str(responder_id),
        offer_id=str(offer.id) if offer else None,
        by=by,
        officer_id=str(officer_id) if officer_id else None,
        previous_responder_id=str(previous) if previous else None,
    )
    await withdraw_open_offers(
        session, incident, reason="accepted_by_other", keep=offer.id if offer else None
    )
    policy = await get_policy(session, incident.organization_id)
    schedule(
        session,
        incident,
        DeadlineKind.ARRIVAL,
        now + timedelta(seconds=policy.arrival_deadline_s),
        responder_id=responder_id,
    )
    await outgoing.help_coming(session, incident, responder_id, speed_kmh=speed_kmh)
    await handoff_send.changed(session, incident, cause="accepted")
    await session.flush()


async def arrival_overdue(
    session: AsyncSession, *, incident_id: uuid.UUID, responder_id: uuid.UUID | None
) -> None:
    """Deadline: accepted but not on scene in time; the officers see it on the map."""
    incident = await lock_incident(session, incident_id)
    if incident.state is not IncidentState.ACCEPTED:
        return
    if incident.assigned_responder_id != responder_id:
        return  # reassigned since; the new assignment has its own deadline
    record(
        session,
        incident,
        EventName.INCIDENT_ARRIVAL_OVERDUE,
        responder_id=str(responder_id),
        accepted_at=incident.accepted_at.isoformat() if incident.accepted_at else None,
    )


async def arrive(
    session: AsyncSession, *, incident_id: uuid.UUID, responder_id: uuid.UUID
) -> Incident:
    incident = await lock_incident(session, incident_id)
    if incident.assigned_responder_id != responder_id:
        raise IllegalTransition("only the assigned responder can report arrival")
    incident.state = move_incident(incident.state, IncidentState.ON_SCENE)
    incident.on_scene_at = datetime.now(UTC)
    record(session, incident, EventName.INCIDENT_ON_SCENE, responder_id=str(responder_id))
    await outgoing.family_moment(session, incident, "family_arrived", responder_id=responder_id)
    await handoff_send.changed(session, incident, cause="on_scene")
    return incident


async def resolve(
    session: AsyncSession,
    *,
    incident_id: uuid.UUID,
    outcome: Outcome,
    note: str | None,
    by_user_id: uuid.UUID | None,
    by: str,
) -> Incident:
    incident = await lock_incident(session, incident_id)
    incident.state = move_incident(incident.state, IncidentState.RESOLVED)
    await _close(
        session,
        incident,
        by_user_id,
        EventName.INCIDENT_RESOLVED,
        outcome=outcome.value,
        note=note,
        by=by,
        user_id=str(by_user_id) if by_user_id else None,
    )
    incident.outcome = outcome.value
    incident.closing_note = note
    await handoff_send.changed(session, incident, cause="resolved")
    await outgoing.family_moment(
        session, incident, "family_resolved", responder_id=incident.assigned_responder_id
    )
    return incident


async def cancel(
    session: AsyncSession,
    *,
    incident_id: uuid.UUID,
    reason: str,
    by: str,
    by_user_id: uuid.UUID | None,
) -> Incident:
    incident = await lock_incident(session, incident_id)
    incident.state = move_incident(incident.state, IncidentState.CANCELLED)
    await _close(
        session,
        incident,
        by_user_id,
        EventName.INCIDENT_CANCELLED,
        reason=reason,
        by=by,
        user_id=str(by_user_id) if by_user_id else None,
    )
    incident.closing_note = reason
    await handoff_send.changed(session, incident, cause="cancelled")
    await outgoing.family_moment(session, incident, "family_cancelled", responder_id=None)
    return incident


async def _close(
    session: AsyncSession,
    incident: Incident,
    by_user_id: uuid.UUID | None,
    name: EventName,
    **data: Any,
) -> None:
    incident.closed_at = datetime.now(UTC)
    record(session, incident, name, **data)
    await withdraw_open_offers(session, incident, reason="incident_closed")
    assigned = incident.assigned_responder_id
    if assigned is not None and assigned != by_user_id:
        why = "resolved" if name is EventName.INCIDENT_RESOLVED else "cancelled"
        await outgoing.stand_down(session, incident, assigned, why=why)
    await session.flush()
