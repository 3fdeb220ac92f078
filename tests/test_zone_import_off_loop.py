"""Zone imports (issue 11, finding 7f): reading, validating and repairing large
polygons (Shapely's make_valid) run off the event loop, over HTTP and in the
streamed bulk import alike."""

import asyncio
import contextlib
import gc
import json
import math
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from geo.bulk_import import import_features
from geo.geojson import FeatureProblem
from tests.factories import World, feature, square
from tests.loop_lag import LoopLag, loop_lag

VERTICES = 30_000
LOOP_LAG_BOUND_S = 0.1


@contextlib.asynccontextmanager
async def loop_lag_without_gc() -> AsyncIterator[LoopLag]:
    """The loop-lag probe with the garbage collector paused. Parsing a document of
    tens of thousands of positions sets off full collections, and a collection
    stops every thread (~0.1 s in this test process) whichever thread allocated:
    that is not work on the event loop, so it is kept out of the measure."""
    gc.disable()
    try:
        async with loop_lag() as lag:
            yield lag
    finally:
        gc.enable()


def winding_twice(n: int, *, lon: float = 103.6, lat: float = 16.6) -> list[list[list[float]]]:
    """A closed ring of ``n`` vertices that goes round twice: it crosses itself
    everywhere, so it is invalid and make_valid has real work to do."""
    ring = []
    for i in range(n):
        a = 4 * math.pi * i / n
        r = 0.01 * (1 + 0.3 * math.sin(7 * a))
        ring.append([lon + r * math.cos(a), lat + r * math.sin(a)])
    ring.append(ring[0])
    return [ring]


async def test_repairing_and_listing_a_large_polygon_over_http_leave_the_loop_free(
    client: httpx.AsyncClient, world: World
) -> None:
    body = json.dumps(feature("Tangled", winding_twice(VERTICES))).encode()
    async with asyncio.timeout(120), loop_lag_without_gc() as lag:
        response = await client.post(
            f"/v1/orgs/{world.org_id}/zones?repair=true",
            content=body,
            headers={**world.officer, "Content-Type": "application/geo+json"},
        )
        listed = await client.get(f"/v1/orgs/{world.org_id}/zones", headers=world.officer)
    assert response.status_code == 201, response.text
    assert response.json()["repaired"] == [0]
    assert listed.status_code == 200
    (tangled,) = [f for f in listed.json()["features"] if f["id"] == response.json()["ids"][0]]
    assert tangled["properties"]["name"] == "Tangled"
    assert tangled["geometry"]["type"] == "MultiPolygon"
    assert lag.ticks > 0
    assert lag.worst_s < LOOP_LAG_BOUND_S, f"the event loop was blocked {lag.worst_s:.3f} s"


def features() -> Iterator[dict[str, Any]]:
    yield feature("Small", square(103.7, 16.7, 103.71, 16.71))
    yield feature("Tangled", winding_twice(VERTICES))


async def test_the_streamed_import_validates_and_repairs_off_the_loop(
    db: AsyncSession, world: World
) -> None:
    async with asyncio.timeout(120), loop_lag_without_gc() as lag:
        refused = await import_features(
            db, organization_id=world.org_id, features=features(), repair=False, skip_invalid=True
        )
        repaired = await import_features(
            db, organization_id=world.org_id, features=features(), repair=True, skip_invalid=False
        )
    (problem,) = refused.problems
    assert isinstance(problem, FeatureProblem)
    assert (problem.index, problem.name, problem.field) == (1, "Tangled", "geometry")
    assert "Self-intersection" in problem.reason
    assert refused.seen == 2 and len(refused.imported) == 1
    assert repaired.seen == 2 and repaired.repaired == [1] and len(repaired.imported) == 2
    assert lag.worst_s < LOOP_LAG_BOUND_S, f"the event loop was blocked {lag.worst_s:.3f} s"
