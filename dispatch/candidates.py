"""Gathering the facts about possible responders from PostGIS, for ``ranking.rank``."""

import uuid
from datetime import datetime

from sqlalchemy import and_, case, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.enums import IncidentState
from dispatch.models import Incident, Responder, ResponderZone
from dispatch.ranking import Candidate
from geo.models import CareZone
from geo.points import point

MAX_CANDIDATES = 500


async def load_candidates(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    zone_id: uuid.UUID | None,
    lat: float,
    lon: float,
    radius_m: float,
    fresh_since: datetime,
) -> list[Candidate]:
    """On-duty responders of the organization who are in the zone's team, or within
    ``radius_m`` of the point by a fresh fix or by a zone they serve."""
    pt = point(lon, lat)
    here = func.geography(pt)
    fresh = and_(Responder.last_location.is_not(None), Responder.last_location_at >= fresh_since)
    fix_distance = case(
        (fresh, func.ST_Distance(func.geography(Responder.last_location), here)), else_=None
    )
    zone_distance = (
        select(func.min(func.ST_Distance(func.geography(CareZone.geom), here)))
        .join(ResponderZone, ResponderZone.zone_id == CareZone.id)
        .where(ResponderZone.responder_id == Responder.id)
        .scalar_subquery()
    )
    in_team = (
        exists().where(ResponderZone.responder_id == Responder.id, ResponderZone.zone_id == zone_id)
        if zone_id is not None
        else literal(False)
    )
    busy = exists().where(
        Incident.assigned_responder_id == Responder.id,
        Incident.state.in_([IncidentState.ACCEPTED, IncidentState.ON_SCENE]),
    )
    near_by_fix = and_(
        fresh, func.ST_DWithin(func.geography(Responder.last_location), here, radius_m)
    )
    near_by_zone = exists().where(
        ResponderZone.responder_id == Responder.id,
        ResponderZone.zone_id == CareZone.id,
        func.ST_DWithin(func.geography(CareZone.geom), here, radius_m),
    )
    stmt = (
        select(
            Responder.id,
            Responder.kind,
            Responder.skills,
            in_team.label("in_team"),
            busy.label("busy"),
            fix_distance.label("fix_distance"),
            zone_distance.label("zone_distance"),
        )
        .where(
            Responder.organization_id == organization_id,
            Responder.on_duty,
            or_(in_team, near_by_fix, near_by_zone),
        )
        # KNN on the GiST index: the nearest last-known positions first.
        .order_by(Responder.last_location.op("<->")(pt))
        .limit(MAX_CANDIDATES)
    )
    rows = await session.execute(stmt)
    return [
        Candidate(
            responder_id=row.id,
            kind=row.kind,
            skills=frozenset(row.skills),
            in_zone_team=bool(row.in_team),
            busy=bool(row.busy),
            fix_distance_m=row.fix_distance,
            zone_distance_m=row.zone_distance,
        )
        for row in rows
    ]
