"""How much of a fix's accuracy circle lies outside a safe zone: PostGIS, in metres.

Everything is computed on ``geography`` (PostGIS projects each pair to a suitable
metric projection internally), so a 50 m margin is 50 m at any latitude.
"""

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# The zone is GeoJSON (a Polygon or MultiPolygon in WGS 84, as geo/geojson validates it).
# ``outside``: the share of the accuracy circle outside the zone grown by the leaving
# margin; ``inside``: the share inside the zone shrunk by the entering margin (empty
# when the margin swallows the zone).
_FRACTIONS = text(
    """
    WITH f AS (
      SELECT ST_Buffer(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography,
                       :accuracy_m, 'quad_segs=16') AS circle,
             ST_SetSRID(ST_GeomFromGeoJSON(:zone), 4326)::geography AS zone
    )
    SELECT 1 - ST_Area(ST_Intersection(circle, ST_Buffer(zone, :leave_m))) / ST_Area(circle),
           coalesce(ST_Area(ST_Intersection(circle, ST_Buffer(zone, -:enter_m)))
                    / ST_Area(circle), 0)
    FROM f
    """
)

# A circle around home as a polygon (GeoJSON), for circular safe zones.
_CIRCLE = text(
    "SELECT ST_AsGeoJSON(ST_Buffer(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, "
    ":radius_m, 'quad_segs=32')::geometry, 7)"
)


@dataclass(frozen=True)
class Fractions:
    outside: float
    inside: float


async def fix_fractions(
    session: AsyncSession,
    *,
    lat: float,
    lon: float,
    accuracy_m: float,
    zone_geojson: str,
    leave_m: float,
    enter_m: float,
) -> Fractions:
    row = (
        await session.execute(
            _FRACTIONS,
            {
                "lat": lat,
                "lon": lon,
                # A fix claiming 0 m still has a size: 1 m keeps the area non-zero.
                "accuracy_m": max(accuracy_m, 1.0),
                "zone": zone_geojson,
                "leave_m": leave_m,
                "enter_m": enter_m,
            },
        )
    ).one()
    outside, inside = float(row[0]), float(row[1])
    return Fractions(outside=min(max(outside, 0.0), 1.0), inside=min(max(inside, 0.0), 1.0))


async def circle_zone(session: AsyncSession, *, lat: float, lon: float, radius_m: float) -> str:
    """A circle of ``radius_m`` around (lat, lon) as a GeoJSON polygon."""
    return str(await session.scalar(_CIRCLE, {"lat": lat, "lon": lon, "radius_m": radius_m}))
