"""The dispatch engine: offers in waves, first accept wins, escalation, the incident's life.

Every function runs inside the caller's transaction with the incident row
locked (``lock_incident``), records its events and schedules its deadlines
there, and never commits: the request or worker scope does.
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.events.catalogue import EventName
from core.events.log import record_event
from core.tenancy.models import Organization
from dispatch import outgoing
from dispatch.candidates import load_candidates
from dispatch.enums import (
    ACTIVE_STATES,
    DeadlineKind,
    EscalationLevel,
    IncidentState,
    OfferState,
    Outcome,
)
from dispatch.locks import lock_incident, lock_incidents
from dispatch.models import Deadline, Elder, Incident, Offer, Responder
from dispatch.policies import get_policy
from dispatch.policy import DispatchPolicy, Wave
from dispatch.ranking import rank
from dispatch.state_machine import IllegalTransition, move_incident, move_offer
from geo import repository as zones

OPEN_OFFER_STATES = (OfferState.PENDING, OfferState.EXPIRED)


def _now() -> datetime:
    return datetime.now(UTC)


def _record(session: AsyncSession, incident: Incident, name: EventName, **data: Any) -> None:
    record_event(
        session,
        organization_id=incident.organization_id,
        incident_id=incident.id,
        name=name,
        data=data,
    )


def schedule(
    session: AsyncSession,
    incident: Incident,
    kind: DeadlineKind,
    due_at: datetime,
    *,
    offer_id: uuid.UUID | None = None,
    responder_id: uuid.UUID | None = None,
) -> None:
    session.add(
        Deadline(
            organization_id=incident.organization_id,
            incident_id=incident.id,
            kind=kind,
            due_at=due_at,
            offer_id=offer_id,
            responder_id=responder_id,
        )
    )


# --- offering -------------------------------------------------------------------


async def start_dispatch(session: AsyncSession, incident: Incident, policy: DispatchPolicy) -> None:
    """Called once when an incident opens: the first wave, or the officers at once."""
    if incident.zone_id is None:
        # Outside every zone there is no team: straight to the officers (API.md).
        await escalate_to_officers(session, incident, policy, reason="outside_zones")
    else:
        await open_wave(session, incident, policy, 1)


async def open_wave(
    session: AsyncSession, incident: Incident, policy: DispatchPolicy, number: int
) -> None:
    """Offer wave ``number``; a wave with nobody to offer passes straight to the next,
    and after the last the officers are called."""
    wave = policy.wave(number)
    while wave is not None:
        incident.wave = number
        if await offer_next(session, incident, policy, wave, count=wave.size):
            return
        number += 1
        wave = policy.wave(number)
    await escalate_to_officers(session, incident, policy, reason="no_responder_accepted")


async def offer_next(
    session: AsyncSession, incident: Incident, policy: DispatchPolicy, wave: Wave, *, count: int
) -> int:
    """Offer the incident to the ``count`` best candidates not offered yet."""
    already = frozenset(
        await session.scalars(select(Offer.responder_id).where(Offer.incident_id == incident.id))
    )
    point = to_shape(incident.location)
    now = _now()
    candidates = await load_candidates(
        session,
        organization_id=incident.organization_id,
        zone_id=incident.zone_id,
        lat=point.y,
        lon=point.x,
        radius_m=wave.radius_m,
        fresh_since=now - timedelta(seconds=policy.location_fresh_s),
    )
    chosen = rank(candidates, radius_m=wave.radius_m, exclude=already)[:count]
    expires_at = now + timedelta(seconds=wave.timeout_s)
    new_offers = [
        Offer(
            id=uuid.uuid4(),
            organization_id=incident.organization_id,
            incident_id=incident.id,
            responder_id=candidate.responder_id,
            wave=incident.wave,
            state=OfferState.PENDING,
            distance_m=candidate.distance_m,
            sent_at=now,
            expires_at=expires_at,
        )
        for candidate in chosen
    ]
    session.add_all(new_offers)
    # The offers must exist before their deadlines reference them: there is no ORM
    # relationship to order the inserts, so flush in between.
    await session.flush()
    for offer, candidate in zip(new_offers, chosen, strict=True):
        schedule(session, incident, DeadlineKind.OFFER_EXPIRY, expires_at, offer_id=offer.id)
        schedule(
            session,
            incident,
            DeadlineKind.RECEIPT,
            now + timedelta(seconds=policy.receipt_timeout_s),
            offer_id=offer.id,
        )
        await outgoing.offer_made(session, incident, offer, wave.timeout_s)
        _record(
            session,
            incident,
            EventName.OFFER_SENT,
            offer_id=str(offer.id),
            responder_id=str(candidate.responder_id),
            wave=incident.wave,
            expires_at=expires_at.isoformat(),
            distance_m=round(candidate.distance_m) if candidate.distance_m is not None else None,
            in_zone_team=candidate.in_zone_team,
        )
    await session.flush()
    return len(chosen)


async def _pending_offers(session: AsyncSession, incident_id: uuid.UUID) -> list[Offer]:
    rows = await session.scalars(
        select(Offer).where(Offer.incident_id == incident_id, Offer.state == OfferState.PENDING)
    )
    return list(rows)


async def _offer_of(
    session: AsyncSession, incident_id: uuid.UUID, responder_id: uuid.UUID
) -> Offer | None:
    return await session.scalar(
        select(Offer).where(Offer.incident_id == incident_id, Offer.responder_id == responder_id)
    )


async def _after_offer_closed(
    session: AsyncSession, incident: Incident, policy: DispatchPolicy, *, replace: bool
) -> None:
    """An offer was declined or expired: offer someone else, or move to the next wave."""
    if incident.state is not IncidentState.DISPATCHING:
        return
    if incident.escalation_level >= EscalationLevel.OFFICERS:
        return  # waves are over; the officers have it
    wave = policy.wave(incident.wave)
    if replace and wave is not None and await offer_next(session, incident, policy, wave, count=1):
        return
    if not await _pending_offers(session, incident.id):
        await open_wave(session, incident, policy, incident.wave + 1)


async def decline(
    session: AsyncSession,
    *,
    incident_id: uuid.UUID,
    responder_id: uuid.UUID,
    policy: DispatchPolicy,
) -> None:
    """A responder says no: the next candidate is offered at once."""
    incident = await lock_incident(session, incident_id)
    offer = await _offer_of(session, incident.id, responder_id)
    if offer is None:
        raise NotFound("no such incident")
    if offer.state is OfferState.DECLINED:
        return  # a repeated tap
    offer.state = move_offer(offer.state, OfferState.DECLINED)
    offer.responded_at = _now()
    _record(
        session,
        incident,
        EventName.OFFER_DECLINED,
        offer_id=str(offer.id),
        responder_id=str(responder_id),
        wave=offer.wave,
    )
    await session.flush()
    await _after_offer_closed(session, incident, policy, replace=True)


async def responder_removed(session: AsyncSession, *, responder_id: uuid.UUID) -> None:
    """A responder's access was revoked: their open offers go to the next candidates at
    once, and the officers are told about incidents they were assigned to (to reassign).

    Every incident concerned is locked first, in ascending id order (core.uow)."""
    offered = set(
        await session.scalars(
            select(Offer.incident_id).where(
                Offer.responder_id == responder_id, Offer.state.in_(OPEN_OFFER_STATES)
            )
        )
    )
    assigned = set(
        await session.scalars(
            select(Incident.id).where(
                Incident.assigned_responder_id == responder_id, Incident.state.in_(ACTIVE_STATES)
            )
        )
    )
    for incident in await lock_incidents(session, offered | assigned):
        offer = await _offer_of(session, incident.id, responder_id)
        if offer is not None and offer.state in OPEN_OFFER_STATES:
            _withdraw(session, incident, offer, reason="responder_removed")
            await session.flush()
            policy = await get_policy(session, incident.organization_id)
            await _after_offer_closed(session, incident, policy, replace=True)
        if incident.assigned_responder_id == responder_id and incident.state in ACTIVE_STATES:
            _record(session, incident, EventName.RESPONDER_REMOVED, responder_id=str(responder_id))


async def expire_offer(
    session: AsyncSession, *, incident_id: uuid.UUID, offer_id: uuid.UUID, policy: DispatchPolicy
) -> None:
    """An offer's time to accept ran out (called by the deadline worker)."""
    incident = await lock_incident(session, incident_id)
    offer = await session.get(Offer, offer_id, populate_existing=True)
    if offer is None or offer.state is not OfferState.PENDING:
        return
    offer.state = move_offer(offer.state, OfferState.EXPIRED)
    _record(
        session,
        incident,
        EventName.OFFER_EXPIRED,
        offer_id=str(offer.id),
        responder_id=str(offer.responder_id),
        wave=offer.wave,
    )
    await session.flush()
    await _after_offer_closed(session, incident, policy, replace=False)


async def _withdraw_open_offers(
    session: AsyncSession, incident: Incident, *, reason: str, keep: uuid.UUID | None = None
) -> None:
    rows = await session.scalars(
        select(Offer).where(Offer.incident_id == incident.id, Offer.state.in_(OPEN_OFFER_STATES))
    )
    for offer in rows:
        if offer.id == keep:
            continue
        _withdraw(session, incident, offer, reason=reason)
        await outgoing.offer_withdrawn(session, incident, offer)


def _withdraw(session: AsyncSession, incident: Incident, offer: Offer, *, reason: str) -> None:
    offer.state = move_offer(offer.state, OfferState.WITHDRAWN)
    _record(
        session,
        incident,
        EventName.OFFER_WITHDRAWN,
        offer_id=str(offer.id),
        responder_id=str(offer.responder_id),
        reason=reason,
    )


# --- escalation -----------------------------------------------------------------


async def escalate_to_officers(
    session: AsyncSession, incident: Incident, policy: DispatchPolicy, *, reason: str
) -> None:
    if incident.escalation_level >= EscalationLevel.OFFICERS:
        return
    now = _now()
    incident.escalation_level = EscalationLevel.OFFICERS
    incident.escalated_at = now
    _record(session, incident, EventName.INCIDENT_ESCALATED, level=1, to="officers", reason=reason)
    await outgoing.officers_alerted(session, incident, level=1)
    schedule(
        session,
        incident,
        DeadlineKind.OFFICER_TIMEOUT,
        now + timedelta(seconds=policy.officer_timeout_s),
    )


async def officer_timeout(session: AsyncSession, *, incident_id: uuid.UUID) -> None:
    """Nobody took the incident after the officers were called: hand off to the fallback."""
    incident = await lock_incident(session, incident_id)
    if incident.state is not IncidentState.DISPATCHING:
        return
    if incident.escalation_level != EscalationLevel.OFFICERS:
        return
    await _hand_off(session, incident, reason="officers_timeout")


async def escalate_now(
    session: AsyncSession, *, incident_id: uuid.UUID, officer_id: uuid.UUID | None
) -> Incident:
    """An officer hands the incident to the fallback (1669) at once."""
    incident = await lock_incident(session, incident_id)
    if incident.state not in ACTIVE_STATES:
        raise IllegalTransition(f"the incident is {incident.state.value}")
    if incident.escalation_level < EscalationLevel.FALLBACK:
        await _hand_off(session, incident, reason="officer", officer_id=officer_id)
    return incident


async def _hand_off(
    session: AsyncSession, incident: Incident, *, reason: str, officer_id: uuid.UUID | None = None
) -> None:
    incident.escalation_level = EscalationLevel.FALLBACK
    incident.escalated_at = _now()
    handoff = await fallback_handoff(session, incident)
    _record(
        session,
        incident,
        EventName.INCIDENT_ESCALATED,
        level=2,
        to="fallback",
        reason=reason,
        officer_id=str(officer_id) if officer_id else None,
        fallback_phone=handoff["fallback_phone"],
        handoff=handoff,
    )
    await outgoing.officers_alerted(session, incident, level=2)


async def fallback_handoff(session: AsyncSession, incident: Incident) -> dict[str, Any]:
    """What a 1669 call-taker needs, in one object."""
    elder = await session.get(Elder, incident.elder_id)
    org = await session.get(Organization, incident.organization_id)
    assert elder is not None and org is not None
    point, home = to_shape(incident.location), to_shape(elder.home)
    zone = await zones.zone_ref(session, incident.zone_id) if incident.zone_id else None
    tried = await session.scalars(select(Offer.state).where(Offer.incident_id == incident.id))
    return {
        "incident_id": str(incident.id),
        "organization": org.name,
        "fallback_phone": org.fallback_phone,
        "opened_at": incident.created_at.isoformat(),
        "trigger": incident.trigger.value,
        "location": {"lat": point.y, "lon": point.x},
        "accuracy_m": incident.accuracy_m,
        "location_source": incident.location_source.value,
        "zone": zone.name if zone else None,
        "battery_pct": incident.battery_pct,
        "elder": {
            "name": elder.name,
            "phone": elder.phone,
            "address": elder.address,
            "home": {"lat": home.y, "lon": home.x},
            "dependency_group": elder.dependency_group,
            "conditions": elder.conditions,
            "medications": elder.medications,
            "allergies": elder.allergies,
            "blood_type": elder.blood_type,
            "contacts": elder.contacts,
            "language": elder.language.value,
        },
        "responders_offered": len(list(tried)),
    }


async def receipt_overdue(
    session: AsyncSession, *, incident_id: uuid.UUID, offer_id: uuid.UUID
) -> None:
    """No delivery receipt for an offer in time: SMS it, and show the officers."""
    incident = await lock_incident(session, incident_id)
    offer = await session.get(Offer, offer_id, populate_existing=True)
    if offer is None or offer.state is not OfferState.PENDING or offer.received_at is not None:
        return
    if incident.state is not IncidentState.DISPATCHING:
        return
    _record(
        session,
        incident,
        EventName.OFFER_UNRECEIVED,
        offer_id=str(offer.id),
        responder_id=str(offer.responder_id),
        fallback="sms",
    )
    await outgoing.offer_by_sms(session, incident, offer)


async def arrival_overdue(
    session: AsyncSession, *, incident_id: uuid.UUID, responder_id: uuid.UUID | None
) -> None:
    incident = await lock_incident(session, incident_id)
    if incident.state is not IncidentState.ACCEPTED:
        return
    if incident.assigned_responder_id != responder_id:
        return  # reassigned since; the new assignment has its own deadline
    _record(
        session,
        incident,
        EventName.INCIDENT_ARRIVAL_OVERDUE,
        responder_id=str(responder_id),
        accepted_at=incident.accepted_at.isoformat() if incident.accepted_at else None,
    )


# --- taking the incident ----------------------------------------------------------


async def accept(
    session: AsyncSession,
    *,
    incident_id: uuid.UUID,
    responder_id: uuid.UUID,
    policy: DispatchPolicy,
) -> Incident:
    """First accept wins: the incident row lock makes the race a queue."""
    incident = await lock_incident(session, incident_id)
    offer = await _offer_of(session, incident.id, responder_id)
    if offer is None:
        raise NotFound("no such incident")
    if incident.assigned_responder_id == responder_id and offer.state is OfferState.ACCEPTED:
        return incident  # a repeated tap by the winner
    if incident.state is not IncidentState.DISPATCHING:
        if incident.state in (IncidentState.ACCEPTED, IncidentState.ON_SCENE):
            raise IllegalTransition("another responder has already accepted this incident")
        raise IllegalTransition(f"the incident is {incident.state.value}")
    offer.state = move_offer(offer.state, OfferState.ACCEPTED)
    offer.responded_at = _now()
    await _take(session, incident, responder_id, policy, by="responder", offer=offer)
    return incident


async def assign(
    session: AsyncSession,
    *,
    incident_id: uuid.UUID,
    responder_id: uuid.UUID,
    officer_id: uuid.UUID | None,
    policy: DispatchPolicy,
) -> Incident:
    """An officer dispatches a responder by hand (also to replace the one assigned)."""
    incident = await lock_incident(session, incident_id)
    responder = await session.get(Responder, responder_id)
    if responder is None or responder.organization_id != incident.organization_id:
        raise NotFound("no such responder in this organization")
    if incident.assigned_responder_id == responder_id:
        return incident
    previous = incident.assigned_responder_id
    offer = await _offer_of(session, incident.id, responder_id)
    if offer is not None and offer.state in OPEN_OFFER_STATES:
        offer.state = move_offer(offer.state, OfferState.ACCEPTED)
        offer.responded_at = _now()
    else:
        offer = None
    if previous is not None:
        previous_offer = await _offer_of(session, incident.id, previous)
        if previous_offer is not None and previous_offer.state is OfferState.ACCEPTED:
            _withdraw(session, incident, previous_offer, reason="reassigned")
    await _take(
        session,
        incident,
        responder_id,
        policy,
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
    policy: DispatchPolicy,
    *,
    by: str,
    offer: Offer | None,
    officer_id: uuid.UUID | None = None,
    previous: uuid.UUID | None = None,
) -> None:
    now = _now()
    incident.state = move_incident(incident.state, IncidentState.ACCEPTED)
    incident.assigned_responder_id = responder_id
    incident.accepted_at = now
    _record(
        session,
        incident,
        EventName.INCIDENT_ACCEPTED,
        responder_id=str(responder_id),
        offer_id=str(offer.id) if offer else None,
        by=by,
        officer_id=str(officer_id) if officer_id else None,
        previous_responder_id=str(previous) if previous else None,
    )
    await _withdraw_open_offers(
        session, incident, reason="accepted_by_other", keep=offer.id if offer else None
    )
    schedule(
        session,
        incident,
        DeadlineKind.ARRIVAL,
        now + timedelta(seconds=policy.arrival_deadline_s),
        responder_id=responder_id,
    )
    await outgoing.help_coming(session, incident, responder_id)
    await session.flush()


async def arrive(
    session: AsyncSession, *, incident_id: uuid.UUID, responder_id: uuid.UUID
) -> Incident:
    incident = await lock_incident(session, incident_id)
    if incident.assigned_responder_id != responder_id:
        raise IllegalTransition("only the assigned responder can report arrival")
    incident.state = move_incident(incident.state, IncidentState.ON_SCENE)
    incident.on_scene_at = _now()
    _record(session, incident, EventName.INCIDENT_ON_SCENE, responder_id=str(responder_id))
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
    return incident


async def _close(
    session: AsyncSession,
    incident: Incident,
    by_user_id: uuid.UUID | None,
    name: EventName,
    **data: Any,
) -> None:
    incident.closed_at = _now()
    _record(session, incident, name, **data)
    await _withdraw_open_offers(session, incident, reason="incident_closed")
    assigned = incident.assigned_responder_id
    if assigned is not None and assigned != by_user_id:
        why = "resolved" if name is EventName.INCIDENT_RESOLVED else "cancelled"
        await outgoing.stand_down(session, incident, assigned, why=why)
    await session.flush()
