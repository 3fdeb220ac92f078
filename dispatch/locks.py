"""Row locks in the project's one lock order (core.uow):

    the acting account (elder, responder, user) → incidents, ascending id → offers
    (through their incident's lock) → outbox and deadline rows → event counter

Locks are ``FOR NO KEY UPDATE``: no command changes a key, and this lock lets the
foreign-key checks (``FOR KEY SHARE``) of new events, offers, deadlines and outbox
rows that reference a locked row pass without waiting.
"""

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.tenancy.models import Organization
from dispatch.enums import ACTIVE_STATES
from dispatch.models import Elder, Incident

NO_KEY_UPDATE = {"key_share": True}


async def lock_elder(session: AsyncSession, elder_id: uuid.UUID) -> Elder | None:
    """The elder's row, locked: SOS presses of one elder are handled one at a time."""
    return await session.get(Elder, elder_id, with_for_update=NO_KEY_UPDATE, populate_existing=True)


async def lock_elder_of_organization(
    session: AsyncSession, elder_id: uuid.UUID
) -> tuple[Elder, Organization] | None:
    """The elder's row, locked as ``lock_elder`` does, and their organization (not
    locked), in one statement: an SOS needs both before anything else."""
    row = (
        await session.execute(
            select(Elder, Organization)
            .join(Organization, Organization.id == Elder.organization_id)
            .where(Elder.id == elder_id)
            .with_for_update(of=Elder, **NO_KEY_UPDATE)
            .execution_options(populate_existing=True)
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1])


async def lock_incident(session: AsyncSession, incident_id: uuid.UUID) -> Incident:
    incident = await session.get(
        Incident, incident_id, with_for_update=NO_KEY_UPDATE, populate_existing=True
    )
    if incident is None:
        raise NotFound("no such incident")
    return incident


async def lock_incidents(
    session: AsyncSession, incident_ids: Iterable[uuid.UUID]
) -> list[Incident]:
    """Lock several incidents in ascending id order, the order every command uses."""
    ids = set(incident_ids)
    if not ids:
        return []
    rows = await session.scalars(
        select(Incident)
        .where(Incident.id.in_(ids))
        .order_by(Incident.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def active_incident(session: AsyncSession, elder_id: uuid.UUID) -> Incident | None:
    """The elder's open incident, if any (not locked)."""
    return await session.scalar(
        select(Incident).where(Incident.elder_id == elder_id, Incident.state.in_(ACTIVE_STATES))
    )


async def lock_active_incident(session: AsyncSession, elder_id: uuid.UUID) -> Incident | None:
    """The elder's active incident, locked; the caller holds the elder's lock.

    An officer may close the incident between the read and the lock (closing does not
    take the elder's lock): then there is no active incident, and the press must open
    a new one rather than join a closed one. No other can open meanwhile: opening
    takes the elder's lock, which the caller holds.
    """
    active = await active_incident(session, elder_id)
    if active is None:
        return None
    locked = await lock_incident(session, active.id)
    return locked if locked.state in ACTIVE_STATES else None
