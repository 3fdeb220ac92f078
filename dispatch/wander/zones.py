"""Safe zones: set by officers, per elder; their thresholds and active hours."""

import json
import uuid
from dataclasses import asdict, fields, replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from geoalchemy2.shape import from_shape, to_shape
from shapely import wkt
from shapely.geometry import MultiPolygon, mapping, shape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import FieldProblem, InvalidInput, NotFound
from dispatch.elders import elder_home
from dispatch.models import Elder
from dispatch.wander.geometry import circle_zone
from dispatch.wander.inputs import SafeZoneIn
from dispatch.wander.machine import Thresholds, WanderState
from dispatch.wander.models import SafeZone, WanderTracker
from dispatch.wander.views import ActiveHoursOut, ElderZoneStateOut, SafeZoneOut, ZoneStateOut
from geo.geojson import FeatureProblem, validate_feature


def thresholds_of(zone: SafeZone) -> Thresholds:
    known = {f.name for f in fields(Thresholds)}
    return replace(Thresholds(), **{k: v for k, v in zone.thresholds.items() if k in known})


def is_active(zone: SafeZone, at: datetime, tz: str) -> bool:
    """Whether ``at`` falls in the zone's active hours (local time of ``tz``)."""
    if zone.active_from is None or zone.active_to is None:
        return True
    local: time = at.astimezone(ZoneInfo(tz)).time().replace(tzinfo=None)
    start, end = zone.active_from, zone.active_to
    if start < end:
        return start <= local < end
    return local >= start or local < end  # spans midnight


async def _area(session: AsyncSession, elder: Elder, data: SafeZoneIn) -> tuple[str, str | None]:
    """The zone's polygon as WKT, and its centre as WKT for a circle."""
    if data.circle is not None:
        home = elder_home(elder)
        lat = data.circle.lat if data.circle.lat is not None else home.lat
        lon = data.circle.lon if data.circle.lon is not None else home.lon
        geojson = await circle_zone(session, lat=lat, lon=lon, radius_m=data.circle.radius_m)
        poly = shape(json.loads(geojson))
        return MultiPolygon([poly]).wkt, f"POINT({lon} {lat})"
    feature = {"type": "Feature", "properties": {"name": data.name}, "geometry": data.area}
    draft = validate_feature(feature, 0, repair=False)
    if isinstance(draft, FeatureProblem):
        raise InvalidInput(draft.reason, [FieldProblem(["body", "area"], draft.reason)])
    return draft.geometry.wkt, None


async def save_zone(
    session: AsyncSession, elder: Elder, data: SafeZoneIn, zone: SafeZone | None = None
) -> SafeZone:
    """Create a zone, or replace one (its tracker starts afresh: the shape changed)."""
    area, centre = await _area(session, elder, data)
    if zone is None:
        zone = SafeZone(organization_id=elder.organization_id, elder_id=elder.id)
        session.add(zone)
    else:
        tracker = await session.get(WanderTracker, zone.id)
        if tracker is not None:
            await session.delete(tracker)
    zone.name = data.name
    zone.kind = data.kind
    zone.area = from_shape(wkt.loads(area), srid=4326)
    zone.centre = from_shape(wkt.loads(centre), srid=4326) if centre else None
    zone.radius_m = data.circle.radius_m if data.circle else None
    zone.active_from = data.active_hours.from_ if data.active_hours else None
    zone.active_to = data.active_hours.to if data.active_hours else None
    zone.thresholds = data.thresholds.overrides()
    await session.flush()
    return zone


async def get_zone(session: AsyncSession, elder_id: uuid.UUID, zone_id: uuid.UUID) -> SafeZone:
    zone = await session.get(SafeZone, zone_id)
    if zone is None or zone.elder_id != elder_id:
        raise NotFound("no such safe zone")
    return zone


async def zones_of(session: AsyncSession, elder_id: uuid.UUID) -> list[SafeZone]:
    rows = await session.scalars(
        select(SafeZone).where(SafeZone.elder_id == elder_id).order_by(SafeZone.created_at)
    )
    return list(rows)


def state_out(zone: SafeZone, tracker: WanderTracker | None, now: datetime) -> ZoneStateOut:
    if tracker is None:
        return ZoneStateOut(
            state=WanderState.UNKNOWN,
            last_fix_at=None,
            left_at=None,
            outside_fixes=0,
            incident_id=None,
        )
    state = tracker.state
    stale = timedelta(seconds=thresholds_of(zone).stale_after_s)
    if tracker.last_fix_at is None or now - tracker.last_fix_at > stale:
        state = WanderState.UNKNOWN  # no recent fix: we do not know where the elder is
    return ZoneStateOut(
        state=state,
        last_fix_at=tracker.last_fix_at,
        left_at=tracker.left_at,
        outside_fixes=tracker.outside_fixes,
        incident_id=tracker.incident_id,
    )


async def zone_out(
    session: AsyncSession, zone: SafeZone, now: datetime | None = None
) -> SafeZoneOut:
    tracker = await session.get(WanderTracker, zone.id)
    circle = None
    if zone.centre is not None and zone.radius_m is not None:
        c = to_shape(zone.centre)
        circle = {"lat": c.y, "lon": c.x, "radius_m": zone.radius_m}
    hours = None
    if zone.active_from is not None and zone.active_to is not None:
        hours = ActiveHoursOut.model_validate(
            {"from": zone.active_from.isoformat(), "to": zone.active_to.isoformat()}
        )
    return SafeZoneOut(
        id=zone.id,
        elder_id=zone.elder_id,
        name=zone.name,
        kind=zone.kind,
        area=dict(mapping(to_shape(zone.area))),
        circle=circle,
        active_hours=hours,
        thresholds=asdict(thresholds_of(zone)),
        status=state_out(zone, tracker, now or datetime.now(UTC)),
    )


async def org_states(
    session: AsyncSession, organization_id: uuid.UUID, now: datetime
) -> list[ElderZoneStateOut]:
    """Every safe zone of the organization with its wander state, for the officers' map
    (one query: the zones, their elders and their trackers)."""
    rows = await session.execute(
        select(SafeZone, Elder.name, WanderTracker)
        .join(Elder, Elder.id == SafeZone.elder_id)
        .outerjoin(WanderTracker, WanderTracker.zone_id == SafeZone.id)
        .where(SafeZone.organization_id == organization_id)
        .order_by(Elder.name, SafeZone.name)
    )
    return [
        ElderZoneStateOut(
            elder_id=zone.elder_id,
            elder_name=name,
            zone_id=zone.id,
            zone_name=zone.name,
            status=state_out(zone, tracker, now),
        )
        for zone, name, tracker in rows
    ]
