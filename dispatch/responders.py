"""Responders: accounts, duty status, last known position, zone teams."""

import uuid
from datetime import UTC, datetime

from geoalchemy2.shape import to_shape
from sqlalchemy import ARRAY, Uuid, delete, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import FieldProblem, InvalidInput, NotFound
from core.tenancy.models import Role, User
from core.tenancy.service import create_user
from dispatch.enums import IncidentState
from dispatch.inputs import LocationIn, ResponderCreate
from dispatch.models import Incident, Responder, ResponderZone
from dispatch.views import DutyStatusOut, LocationOut, ResponderOut, ZoneTeamOut
from geo import repository as zones
from geo.points import point_wkt


async def create_responder(
    session: AsyncSession, *, organization_id: uuid.UUID, data: ResponderCreate
) -> ResponderOut:
    await _check_zones(session, organization_id, data.zone_ids, loc="zone_ids")
    user = await create_user(
        session,
        organization_id=organization_id,
        role=Role.RESPONDER,
        name=data.name,
        email=data.email,
        password=data.password,
        phone=data.phone,
    )
    responder = Responder(
        id=user.id,
        organization_id=organization_id,
        kind=data.kind,
        skills=sorted(set(data.skills)),
        on_duty=False,
    )
    session.add(responder)
    session.add_all(ResponderZone(responder_id=user.id, zone_id=z) for z in set(data.zone_ids))
    await session.flush()
    return await responder_out(session, responder.id)


async def responder_out(session: AsyncSession, responder_id: uuid.UUID) -> ResponderOut:
    row = (
        await session.execute(
            select(Responder, User)
            .join(User, User.id == Responder.id)
            .where(Responder.id == responder_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound("no such responder")
    responder, user = row
    zone_ids = await session.scalars(
        select(ResponderZone.zone_id).where(ResponderZone.responder_id == responder_id)
    )
    return to_responder_out(responder, user, list(zone_ids))


def to_responder_out(responder: Responder, user: User, zone_ids: list[uuid.UUID]) -> ResponderOut:
    return ResponderOut(
        id=responder.id,
        organization_id=responder.organization_id,
        name=user.name,
        email=user.email,
        phone=user.phone,
        kind=responder.kind,
        skills=responder.skills,
        zone_ids=sorted(zone_ids),
        on_duty=responder.on_duty,
        last_location=last_location_out(responder),
    )


def last_location_out(responder: Responder) -> LocationOut | None:
    if responder.last_location is None or responder.last_location_at is None:
        return None
    pt = to_shape(responder.last_location)
    return LocationOut(
        lat=pt.y,
        lon=pt.x,
        accuracy_m=responder.last_location_accuracy_m,
        recorded_at=responder.last_location_at,
    )


async def _get_for_update(session: AsyncSession, responder_id: uuid.UUID) -> Responder:
    responder = await session.get(Responder, responder_id, with_for_update={"key_share": True})
    if responder is None:
        raise NotFound("no responder profile for this account")
    return responder


async def set_duty(
    session: AsyncSession, *, responder_id: uuid.UUID, on_duty: bool
) -> DutyStatusOut:
    responder = await _get_for_update(session, responder_id)
    if responder.on_duty != on_duty or responder.on_duty_changed_at is None:
        responder.on_duty = on_duty
        responder.on_duty_changed_at = datetime.now(UTC)
    assert responder.on_duty_changed_at is not None
    return DutyStatusOut(on_duty=responder.on_duty, changed_at=responder.on_duty_changed_at)


async def record_location(
    session: AsyncSession, *, responder_id: uuid.UUID, location: LocationIn
) -> bool:
    """Store the responder's position; an older fix than the stored one is ignored.

    Returns whether the position was stored.
    """
    return await store_fix(session, responder_id=responder_id, location=location) is not None


async def store_fix(
    session: AsyncSession, *, responder_id: uuid.UUID, location: LocationIn
) -> list[uuid.UUID] | None:
    """Store the responder's position in one statement (the hot path of a moving
    responder: no locked read before the write). Returns the incidents they are
    assigned to, read in the same statement without locking them (the caller locks and
    checks again), or None for an older fix than the stored one (ignored)."""
    recorded_at = location.recorded_at or datetime.now(UTC)
    assigned = (
        select(func.coalesce(func.array_agg(Incident.id), literal([], ARRAY(Uuid))))
        .where(
            Incident.assigned_responder_id == Responder.id,
            Incident.state.in_([IncidentState.ACCEPTED, IncidentState.ON_SCENE]),
        )
        .scalar_subquery()
    )
    incidents = await session.scalar(
        update(Responder)
        .where(
            Responder.id == responder_id,
            or_(Responder.last_location_at.is_(None), Responder.last_location_at < recorded_at),
        )
        .values(
            last_location=point_wkt(location.lon, location.lat),
            last_location_accuracy_m=location.accuracy_m,
            last_location_at=recorded_at,
        )
        .returning(assigned)
    )
    if incidents is not None:
        return list(incidents)
    await _get_for_update(session, responder_id)  # 404 if there is no such responder
    return None


async def set_zone_team(
    session: AsyncSession,
    *,
    zone_id: uuid.UUID,
    organization_id: uuid.UUID,
    responder_ids: list[uuid.UUID],
) -> ZoneTeamOut:
    """Replace a zone's team with exactly these responders of its organization."""
    wanted = set(responder_ids)
    found = (
        set(
            await session.scalars(
                select(Responder.id).where(
                    Responder.organization_id == organization_id, Responder.id.in_(wanted)
                )
            )
        )
        if wanted
        else set()
    )
    missing = sorted(wanted - found)
    if missing:
        raise InvalidInput(
            f"{len(missing)} responder id(s) are not responders of this organization",
            errors=[
                FieldProblem(loc=["body", "responder_ids"], msg=f"unknown responder {m}")
                for m in missing
            ],
        )
    await session.execute(delete(ResponderZone).where(ResponderZone.zone_id == zone_id))
    session.add_all(ResponderZone(responder_id=r, zone_id=zone_id) for r in wanted)
    await session.flush()
    return ZoneTeamOut(zone_id=zone_id, responder_ids=sorted(wanted))


async def _check_zones(
    session: AsyncSession, organization_id: uuid.UUID, zone_ids: list[uuid.UUID], *, loc: str
) -> None:
    known = await zones.existing_zone_ids(session, organization_id, zone_ids)
    missing = [z for z in zone_ids if z not in known]
    if missing:
        raise InvalidInput(
            f"{len(missing)} zone id(s) are not zones of this organization",
            errors=[FieldProblem(loc=["body", loc], msg=f"unknown zone {m}") for m in missing],
        )
