"""Offers in waves: the best candidates first, a decline passes on at once, a wave
with nobody left opens the next, and after the last the officers are called.

Every function runs inside the caller's transaction with the incident row locked
(``lock_incident``), and never commits.
"""

import uuid
from datetime import UTC, datetime, timedelta

from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import metrics
from core.errors import NotFound
from core.events.catalogue import EventName
from dispatch import outgoing
from dispatch.candidates import load_candidates
from dispatch.enums import DeadlineKind, EscalationLevel, IncidentState, OfferState
from dispatch.escalation import escalate_to_officers
from dispatch.incident_log import record, schedule
from dispatch.locks import lock_incident
from dispatch.models import Incident, Offer
from dispatch.policy_document import DispatchPolicy, Wave
from dispatch.policy_store import get_policy
from dispatch.ranking import rank
from dispatch.state_machine import move_offer

# Offers that still stand: pending, or expired while the incident is unassigned (a
# late accept still wins).
OPEN_OFFER_STATES = (OfferState.PENDING, OfferState.EXPIRED)


async def start_dispatch(session: AsyncSession, incident: Incident) -> None:
    """Called once when an incident opens: the first wave, or the officers at once."""
    policy = await get_policy(session, incident.organization_id)
    if incident.zone_id is None:
        # Outside every zone there is no team: straight to the officers (API.md).
        await escalate_to_officers(session, incident, policy, reason="outside_zones")
    else:
        # A new incident has no offers yet: no need to ask which responders had one.
        await _open_wave(session, incident, policy, 1, offered=frozenset())


async def _open_wave(
    session: AsyncSession,
    incident: Incident,
    policy: DispatchPolicy,
    number: int,
    *,
    offered: frozenset[uuid.UUID] | None = None,
) -> None:
    """Offer wave ``number``; a wave with nobody to offer passes straight to the next,
    and after the last the officers are called. ``offered``: who already had an offer,
    when the caller knows (None: look it up)."""
    wave = policy.wave(number)
    while wave is not None:
        if incident.wave != number:
            incident.wave = number
        if await _offer_next(session, incident, policy, wave, count=wave.size, offered=offered):
            return
        number += 1
        wave = policy.wave(number)
    await escalate_to_officers(session, incident, policy, reason="no_responder_accepted")


async def _offer_next(
    session: AsyncSession,
    incident: Incident,
    policy: DispatchPolicy,
    wave: Wave,
    *,
    count: int,
    offered: frozenset[uuid.UUID] | None = None,
) -> int:
    """Offer the incident to the ``count`` best candidates not offered yet."""
    already = offered
    if already is None:
        already = frozenset(
            await session.scalars(
                select(Offer.responder_id).where(Offer.incident_id == incident.id)
            )
        )
    point = to_shape(incident.location)
    now = datetime.now(UTC)
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
        record(
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
    if chosen and not already:
        opened_at = incident.created_at
        metrics.after_commit(
            session,
            lambda: metrics.SOS_TO_FIRST_OFFER.observe(
                (datetime.now(UTC) - opened_at).total_seconds()
            ),
        )
    return len(chosen)


async def offer_of(
    session: AsyncSession, incident_id: uuid.UUID, responder_id: uuid.UUID
) -> Offer | None:
    return await session.scalar(
        select(Offer).where(Offer.incident_id == incident_id, Offer.responder_id == responder_id)
    )


async def pass_on(session: AsyncSession, incident: Incident, *, replace: bool) -> None:
    """An offer was declined, expired or withdrawn: offer someone else in its place
    (``replace``), or, when the wave has no pending offer left, open the next wave."""
    if incident.state is not IncidentState.DISPATCHING:
        return
    if incident.escalation_level >= EscalationLevel.OFFICERS:
        return  # waves are over; the officers have it
    policy = await get_policy(session, incident.organization_id)
    wave = policy.wave(incident.wave)
    if replace and wave is not None and await _offer_next(session, incident, policy, wave, count=1):
        return
    pending = await session.scalar(
        select(Offer.id)
        .where(Offer.incident_id == incident.id, Offer.state == OfferState.PENDING)
        .limit(1)
    )
    if pending is None:
        await _open_wave(session, incident, policy, incident.wave + 1)


async def decline(
    session: AsyncSession, *, incident_id: uuid.UUID, responder_id: uuid.UUID
) -> None:
    """A responder says no: the next candidate is offered at once."""
    incident = await lock_incident(session, incident_id)
    offer = await offer_of(session, incident.id, responder_id)
    if offer is None:
        raise NotFound("no such incident")
    if offer.state is OfferState.DECLINED:
        return  # a repeated tap
    offer.state = move_offer(offer.state, OfferState.DECLINED)
    offer.responded_at = datetime.now(UTC)
    record(
        session,
        incident,
        EventName.OFFER_DECLINED,
        offer_id=str(offer.id),
        responder_id=str(responder_id),
        wave=offer.wave,
    )
    await session.flush()
    await pass_on(session, incident, replace=True)


async def expire_offer(
    session: AsyncSession, *, incident_id: uuid.UUID, offer_id: uuid.UUID
) -> None:
    """Deadline: an offer's time to accept ran out."""
    incident = await lock_incident(session, incident_id)
    offer = await session.get(Offer, offer_id, populate_existing=True)
    if offer is None or offer.state is not OfferState.PENDING:
        return
    offer.state = move_offer(offer.state, OfferState.EXPIRED)
    record(
        session,
        incident,
        EventName.OFFER_EXPIRED,
        offer_id=str(offer.id),
        responder_id=str(offer.responder_id),
        wave=offer.wave,
    )
    await session.flush()
    await pass_on(session, incident, replace=False)


async def receipt_overdue(
    session: AsyncSession, *, incident_id: uuid.UUID, offer_id: uuid.UUID
) -> None:
    """Deadline: no delivery receipt for an offer in time. SMS it, and show the officers."""
    incident = await lock_incident(session, incident_id)
    offer = await session.get(Offer, offer_id, populate_existing=True)
    if offer is None or offer.state is not OfferState.PENDING or offer.received_at is not None:
        return
    if incident.state is not IncidentState.DISPATCHING:
        return
    record(
        session,
        incident,
        EventName.OFFER_UNRECEIVED,
        offer_id=str(offer.id),
        responder_id=str(offer.responder_id),
        fallback="sms",
    )
    await outgoing.offer_by_sms(session, incident, offer)
    metrics.after_commit(session, metrics.OFFERS_UNRECEIVED.inc)


def withdraw(session: AsyncSession, incident: Incident, offer: Offer, *, reason: str) -> None:
    offer.state = move_offer(offer.state, OfferState.WITHDRAWN)
    record(
        session,
        incident,
        EventName.OFFER_WITHDRAWN,
        offer_id=str(offer.id),
        responder_id=str(offer.responder_id),
        reason=reason,
    )


async def withdraw_open_offers(
    session: AsyncSession, incident: Incident, *, reason: str, keep: uuid.UUID | None = None
) -> None:
    """Every offer still standing (but ``keep``) is withdrawn and its responder told."""
    rows = await session.scalars(
        select(Offer).where(Offer.incident_id == incident.id, Offer.state.in_(OPEN_OFFER_STATES))
    )
    for offer in rows:
        if offer.id == keep:
            continue
        withdraw(session, incident, offer, reason=reason)
        await outgoing.offer_withdrawn(session, incident, offer)
