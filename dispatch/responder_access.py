"""Disabling a responder's account, as a flow over several services: the person is
signed out everywhere, taken off duty, and every offer they held passes to the next
candidate at once; officers are told of the incidents they were assigned to."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.events.catalogue import EventName
from core.tenancy.models import Role, User
from core.tenancy.sessions import revoke_user_sessions
from dispatch.enums import ACTIVE_STATES
from dispatch.incident_log import record
from dispatch.locks import lock_incidents
from dispatch.models import Incident, Offer
from dispatch.offers import OPEN_OFFER_STATES, offer_of, pass_on, withdraw
from dispatch.responders import set_duty


async def set_access(session: AsyncSession, *, user: User, enabled: bool) -> None:
    """Disable or re-enable a staff account. Disabling signs the person out everywhere
    (refresh tokens revoked, live sockets closed, access tokens refused from the next
    request) and, for a responder, takes them off duty and hands their offers on."""
    if enabled:
        user.disabled_at = None
        user.failed_logins, user.locked_until = 0, None
        return
    if user.disabled_at is None:
        user.disabled_at = datetime.now(UTC)
    await revoke_user_sessions(session, user.id)
    if user.role is Role.RESPONDER:
        await set_duty(session, responder_id=user.id, on_duty=False)
        await responder_removed(session, responder_id=user.id)


async def responder_removed(session: AsyncSession, *, responder_id: uuid.UUID) -> None:
    """Their open offers go to the next candidates at once, and the officers are told
    about incidents they were assigned to (to reassign).

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
        offer = await offer_of(session, incident.id, responder_id)
        if offer is not None and offer.state in OPEN_OFFER_STATES:
            withdraw(session, incident, offer, reason="responder_removed")
            await session.flush()
            await pass_on(session, incident, replace=True)
        if incident.assigned_responder_id == responder_id and incident.state in ACTIVE_STATES:
            record(session, incident, EventName.RESPONDER_REMOVED, responder_id=str(responder_id))
