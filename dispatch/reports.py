"""Response-time reports and the incident export, computed in PostgreSQL."""

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.views import Measure, ResponseTimes, ZoneResponseTimes

# One row per zone (zone_id NULL and grouping 1: the whole organization).
_REPORT = text("""
WITH base AS (
    SELECT i.id, i.zone_id, i.created_at,
           (SELECT min(o.received_at) FROM offer o WHERE o.incident_id = i.id) AS receipt_at,
           i.accepted_at, i.on_scene_at
    FROM incident i
    WHERE i.organization_id = :org AND i.created_at >= :from_ AND i.created_at < :to_
), secs AS (
    SELECT zone_id,
           extract(epoch FROM receipt_at - created_at) AS receipt_s,
           extract(epoch FROM accepted_at - created_at) AS accept_s,
           extract(epoch FROM on_scene_at - created_at) AS arrival_s
    FROM base
)
SELECT grouping(s.zone_id) AS whole, s.zone_id, z.name AS zone_name, count(*) AS incidents,
       count(receipt_s) AS receipt_n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY receipt_s) AS receipt_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY receipt_s) AS receipt_p90,
       count(accept_s) AS accept_n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY accept_s) AS accept_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY accept_s) AS accept_p90,
       count(arrival_s) AS arrival_n,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY arrival_s) AS arrival_p50,
       percentile_cont(0.9) WITHIN GROUP (ORDER BY arrival_s) AS arrival_p90
FROM secs s LEFT JOIN care_zone z ON z.id = s.zone_id
GROUP BY GROUPING SETS ((), (s.zone_id, z.name))
ORDER BY whole DESC, z.name NULLS LAST
""")


def _measure(row: Any, name: str) -> Measure:
    def rounded(value: float | None) -> float | None:
        return round(float(value), 1) if value is not None else None

    return Measure(
        count=getattr(row, f"{name}_n"),
        p50_s=rounded(getattr(row, f"{name}_p50")),
        p90_s=rounded(getattr(row, f"{name}_p90")),
    )


async def response_times(
    session: AsyncSession, *, organization_id: uuid.UUID, start: datetime, end: datetime
) -> ResponseTimes:
    rows = (
        await session.execute(_REPORT, {"org": organization_id, "from_": start, "to_": end})
    ).all()
    overall = next((r for r in rows if r.whole), None)
    zones = [
        ZoneResponseTimes(
            zone_id=r.zone_id,
            zone_name=r.zone_name,
            incidents=r.incidents,
            first_receipt=_measure(r, "receipt"),
            accept=_measure(r, "accept"),
            arrival=_measure(r, "arrival"),
        )
        for r in rows
        if not r.whole
    ]
    empty = Measure(count=0, p50_s=None, p90_s=None)
    return ResponseTimes(
        start=start,
        end=end,
        incidents=overall.incidents if overall else 0,
        first_receipt=_measure(overall, "receipt") if overall else empty,
        accept=_measure(overall, "accept") if overall else empty,
        arrival=_measure(overall, "arrival") if overall else empty,
        zones=zones,
    )


_EXPORT = text("""
SELECT i.id, i.state, i.trigger, i.escalation_level, i.location_source, i.accuracy_m,
       i.created_at, i.accepted_at, i.on_scene_at, i.closed_at, i.outcome, i.zone_id,
       z.name AS zone_name, ST_AsGeoJSON(i.location, 7) AS geometry
FROM incident i LEFT JOIN care_zone z ON z.id = i.zone_id
WHERE i.organization_id = :org AND i.created_at >= :from_ AND i.created_at < :to_
ORDER BY i.created_at
""")


async def incidents_geojson(
    session: AsyncSession, *, organization_id: uuid.UUID, start: datetime, end: datetime
) -> dict[str, Any]:
    """Incidents as GeoJSON points: times and outcomes, no personal or medical data."""
    rows = await session.execute(_EXPORT, {"org": organization_id, "from_": start, "to_": end})
    features = []
    for r in rows:
        props = {k: v for k, v in r._mapping.items() if k not in ("geometry", "id")}
        features.append(
            {
                "type": "Feature",
                "id": str(r.id),
                "geometry": json.loads(r.geometry),
                "properties": {
                    k: (
                        v.isoformat().replace("+00:00", "Z")
                        if isinstance(v, datetime)
                        else str(v)
                        if isinstance(v, uuid.UUID)
                        else v
                    )
                    for k, v in props.items()
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}
