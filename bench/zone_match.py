"""Zone match per point at national size, beside its floors (issue 17, figure 1).

Run through ``scripts/bench national zones`` after ``scripts/bench national load``.
The points are enrolled elders' homes (inside villages, as an SOS from home is). Each
row is measured in the same run on the same data:

- the service: ``geo.repository.match_zones`` through SQLAlchemy, inside an open
  transaction as an SOS calls it (covering only, and with a 50 m accuracy circle);
- the bare PostGIS query: the same index lookup (``ST_Covers``), one prepared
  statement on a raw psycopg connection;
- Shapely's STRtree in process over the same 75,000 polygons.
"""

import csv
import random
import time
import uuid
from collections.abc import Awaitable, Callable

import psycopg
import shapely
from sqlalchemy.engine import make_url

from bench.common import percentile
from core.db import create_engine, create_sessionmaker
from geo.repository import match_zones

Point = tuple[uuid.UUID, float, float]  # organization, lat, lon
BARE = (
    "select id from care_zone where organization_id = %s "
    "and ST_Covers(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) limit 1"
)


def sample(points: int) -> list[Point]:
    from bench.national import TOKENS

    with TOKENS.open() as f:
        rows = list(csv.DictReader(f))
    chosen = random.Random(5).sample(rows, points)
    return [(uuid.UUID(r["organization_id"]), float(r["lat"]), float(r["lon"])) for r in chosen]


async def timed(
    points: list[Point], variants: dict[str, Callable[[Point], Awaitable[object]]]
) -> dict[str, list[float]]:
    """Each point through every variant in turn: the machine's noise (2 shared cores)
    falls on all of them alike, so their ratios hold within one run."""
    for point in points[:50]:  # warm caches and plans
        for one in variants.values():
            await one(point)
    times: dict[str, list[float]] = {name: [] for name in variants}
    for point in points:
        for name, one in variants.items():
            started = time.perf_counter()
            found = await one(point)
            times[name].append((time.perf_counter() - started) * 1000)
            assert found, (name, point)
    return times


async def run(url: str, *, points: int) -> None:
    chosen = sample(points)
    engine = create_engine(url, pool_size=1)
    sessionmaker = create_sessionmaker(engine)
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    async with (
        sessionmaker() as session,  # an SOS calls it inside its open transaction
        await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn,
    ):

        async def service(point: Point, accuracy_m: float = 0.0) -> object:
            org, lat, lon = point
            return await match_zones(session, org, lat=lat, lon=lon, accuracy_m=accuracy_m, limit=1)

        async def bare(point: Point) -> object:
            org, lat, lon = point
            cursor = await conn.execute(BARE, (org, lon, lat), prepare=True)
            return await cursor.fetchone()

        results = await timed(
            chosen,
            {
                "service, match_zones": service,
                "service, match_zones (accuracy 50 m)": lambda p: service(p, 50.0),
                "bare PostGIS query": bare,
            },
        )
        started = time.perf_counter()
        rows = await (await conn.execute("select id, ST_AsBinary(geom) from care_zone")).fetchall()
    await engine.dispose()
    ids = [row[0] for row in rows]
    tree = shapely.STRtree(shapely.from_wkb([row[1] for row in rows]))
    print(f"STRtree over {len(ids):,} polygons built in {time.perf_counter() - started:.1f} s")

    async def strtree(point: Point) -> object:
        _, lat, lon = point
        hits = tree.query(shapely.Point(lon, lat), predicate="within")
        return ids[hits[0]] if len(hits) else None

    results |= await timed(chosen, {"Shapely STRtree, in process": strtree})

    floor = percentile(results["bare PostGIS query"], 50)
    print(f"\nzone match, {len(chosen):,} points, {len(ids):,} zones\n")
    print("| match | p50 | p99 | p50 / bare PostGIS p50 |")
    print("| --- | --- | --- | --- |")
    for name, times in results.items():
        p50, p99 = percentile(times, 50), percentile(times, 99)
        print(f"| {name} | {p50:.3f} ms | {p99:.3f} ms | {p50 / floor:.2f} |")
