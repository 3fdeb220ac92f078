"""PostGIS queries on care zones."""

import uuid
from collections.abc import Iterable
from typing import Any

from geoalchemy2.shape import from_shape
from sqlalchemy import JSON, Select, Text, bindparam, case, cast, func, literal, or_, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from geo.geojson import ZoneDraft
from geo.models import CareZone
from geo.points import WGS84
from geo.schemas import ZoneMatch, ZoneRef

GEOJSON_DECIMALS = 7  # ~1 cm: more would only inflate the payload.


async def insert_zones(
    session: AsyncSession, organization_id: uuid.UUID, drafts: Iterable[ZoneDraft]
) -> list[uuid.UUID]:
    zones = [
        CareZone(
            organization_id=organization_id,
            name=draft.name,
            kind=draft.kind,
            priority=draft.priority,
            geom=from_shape(draft.geometry, srid=4326),
        )
        for draft in drafts
    ]
    session.add_all(zones)
    await session.flush()
    return [zone.id for zone in zones]


async def zones_feature_collection(session: AsyncSession, organization_id: uuid.UUID) -> str:
    """The organization's zones as GeoJSON FeatureCollection text, built by PostGIS:
    thousands of vertices are never parsed and re-encoded on the event loop."""
    feature = func.json_build_object(
        "type",
        "Feature",
        "id",
        cast(CareZone.id, Text),
        "geometry",
        cast(func.ST_AsGeoJSON(CareZone.geom, GEOJSON_DECIMALS), JSON),
        "properties",
        func.json_build_object(
            "name", CareZone.name, "kind", CareZone.kind, "priority", CareZone.priority
        ),
    )
    features = func.coalesce(
        func.json_agg(aggregate_order_by(feature, CareZone.name, CareZone.id)),
        cast(literal("[]"), JSON),
    )
    collection = func.json_build_object("type", "FeatureCollection", "features", features)
    text = await session.scalar(
        select(cast(collection, Text)).where(CareZone.organization_id == organization_id)
    )
    return str(text)


def _match_statement(*, near: bool) -> Select[Any]:
    """Built once per shape with bound parameters, so every call reuses SQLAlchemy's
    compiled form; building the expression per call cost more than the query."""
    pt = func.ST_SetSRID(func.ST_MakePoint(bindparam("lon"), bindparam("lat")), WGS84)
    geog = func.geography(CareZone.geom)
    covers = func.ST_Covers(CareZone.geom, pt)
    # A covering zone is 0 m away: the spheroid distance is computed only for near ones.
    distance = case((covers, literal(0.0)), else_=func.ST_Distance(geog, func.geography(pt)))
    area = CareZone.area_m2
    where = (
        or_(covers, func.ST_DWithin(geog, func.geography(pt), bindparam("accuracy_m")))
        if near
        else covers
    )
    return (
        select(
            CareZone.id,
            CareZone.name,
            CareZone.kind,
            CareZone.priority,
            covers.label("covers"),
            distance.label("distance_m"),
            area.label("area_m2"),
        )
        .where(CareZone.organization_id == bindparam("organization_id"), where)
        .order_by(
            covers.desc(),
            distance,
            CareZone.priority.desc(),
            # Whole square metres, so float noise between congruent zones is a tie.
            func.round(area),
            CareZone.id,
        )
        .limit(bindparam("limit"))
    )


_COVERING = _match_statement(near=False)
_COVERING_OR_NEAR = _match_statement(near=True)


async def match_zones(
    session: AsyncSession,
    organization_id: uuid.UUID,
    *,
    lat: float,
    lon: float,
    accuracy_m: float = 0.0,
    limit: int = 10,
) -> list[ZoneMatch]:
    """Zones that cover the point or lie within ``accuracy_m`` of it, best first.

    Order: zones covering the point before zones merely near it; among covering
    zones the highest priority, then the smallest area (the most specific zone);
    among near ones the nearest. The zone id breaks remaining ties, so a point
    on a shared border always matches the same zone.
    """
    params: dict[str, Any] = {
        "organization_id": organization_id,
        "lat": lat,
        "lon": lon,
        "limit": limit,
    }
    if accuracy_m > 0:
        params["accuracy_m"] = accuracy_m
    # Core execution on the session's connection (same transaction): the ORM's
    # per-call setup for an entity select was a third of the match's time.
    connection = await session.connection()
    rows = await connection.execute(_COVERING_OR_NEAR if accuracy_m > 0 else _COVERING, params)
    return [ZoneMatch.model_validate(row, from_attributes=True) for row in rows]


def remember_zone_name(session: AsyncSession, zone_id: uuid.UUID, name: str) -> None:
    """Note a zone's name already read (by a match) for ``zone_ref`` in this session."""
    session.info.setdefault("zone_refs", {})[zone_id] = ZoneRef(id=zone_id, name=name)


async def zone_ref(session: AsyncSession, zone_id: uuid.UUID) -> ZoneRef | None:
    """A zone's id and name, without loading its geometry; read once per session (an SOS
    names its zone in the offer, the family's message and the event)."""
    known: dict[uuid.UUID, ZoneRef] = session.info.setdefault("zone_refs", {})
    if zone_id in known:
        return known[zone_id]
    row = (
        await session.execute(select(CareZone.id, CareZone.name).where(CareZone.id == zone_id))
    ).one_or_none()
    if row is None:
        return None
    known[zone_id] = ZoneRef(id=row.id, name=row.name)
    return known[zone_id]


async def get_zone(session: AsyncSession, zone_id: uuid.UUID) -> CareZone | None:
    return await session.get(CareZone, zone_id)


async def existing_zone_ids(
    session: AsyncSession, organization_id: uuid.UUID, zone_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    ids = list(zone_ids)
    if not ids:
        return set()
    rows = await session.scalars(
        select(CareZone.id).where(CareZone.organization_id == organization_id, CareZone.id.in_(ids))
    )
    return set(rows)
