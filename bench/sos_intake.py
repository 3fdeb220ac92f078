"""SOS intake latency over HTTP against ``phikat serve`` on loopback, and zone matching.

Prints p50/p90/p99 for: a new SOS (opens an incident, matches its zone, ranks
the on-duty responders in PostGIS and offers the first wave, writes the events),
a retried SOS (idempotent replay), a second press (joins the active
incident), and a zone match in PostGIS among many zones.

    scripts/bench sos_intake [--elders 300] [--concurrency 8] [--zones 2000] [--responders 100]
"""

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime

import httpx

from bench.common import Server, describe, scratch_database
from core.db import create_engine, create_sessionmaker
from core.tenancy.schemas import OrganizationCreate
from core.tenancy.service import create_organization
from dispatch.elders import create_elder, issue_device_token
from dispatch.enums import ResponderKind
from dispatch.inputs import ElderCreate, LocationIn, PointIn, ResponderCreate
from dispatch.responders import create_responder, record_location, set_duty
from geo.repository import match_zones
from geo.service import import_zones


def grid_zones(count: int) -> dict[str, object]:
    side = int(count**0.5) + 1
    features = []
    for i in range(count):
        x, y = 103.0 + (i % side) * 0.01, 16.5 + (i // side) * 0.01
        ring = [[x, y], [x + 0.01, y], [x + 0.01, y + 0.01], [x, y + 0.01], [x, y]]
        features.append(
            {
                "type": "Feature",
                "properties": {"name": f"Village {i}"},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    return {"type": "FeatureCollection", "features": features}


async def seed(url: str, elders: int, zones: int, responders: int) -> tuple[uuid.UUID, list[str]]:
    engine = create_engine(url)
    async with create_sessionmaker(engine)() as session, session.begin():
        org = await create_organization(
            session, data=OrganizationCreate(name="Bench", code="bench")
        )
        imported = await import_zones(
            session, organization_id=org.id, document=grid_zones(zones), repair=False
        )
        now = datetime.now(UTC)
        for i in range(responders):
            out = await create_responder(
                session,
                organization_id=org.id,
                data=ResponderCreate(
                    name=f"Responder {i}",
                    email=f"r{i}@bench.example.org",
                    password="bench-password",
                    phone="0800000000",
                    kind=ResponderKind.VOLUNTEER,
                    zone_ids=[imported.ids[(i * 7) % zones]],
                ),
            )
            await set_duty(session, responder_id=out.id, on_duty=True)
            location = LocationIn(
                lat=16.5 + (i % 40) * 0.01, lon=103.0 + (i // 40) * 0.01, recorded_at=now
            )
            await record_location(session, responder_id=out.id, location=location)
        tokens = []
        for i in range(elders):
            elder = await create_elder(
                session,
                organization_id=org.id,
                data=ElderCreate(
                    name=f"Elder {i}",
                    home=PointIn(
                        lat=16.5 + (i % 40) * 0.01 + 0.005, lon=103.0 + (i // 40) * 0.01 + 0.005
                    ),
                    dependency_group=2,
                ),
            )
            tokens.append(
                (
                    await issue_device_token(session, elder=elder, created_by=None, label=None)
                ).device_token
            )
    await engine.dispose()
    return org.id, tokens


async def timed_posts(
    client: httpx.AsyncClient,
    jobs: list[tuple[str, str, dict[str, object]]],
    concurrency: int,
    expect: int,
) -> list[float]:
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(token: str, key: str, body: dict[str, object]) -> None:
        async with gate:
            start = time.perf_counter()
            response = await client.post(
                "/v1/sos",
                json=body,
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
            )
            latencies.append(time.perf_counter() - start)
            assert response.status_code == expect, response.text

    await asyncio.gather(*(one(*job) for job in jobs))
    return latencies


async def bench_http(base_url: str, tokens: list[str], concurrency: int) -> None:
    keys = [str(uuid.uuid4()) for _ in tokens]
    bodies: list[dict[str, object]] = [{"trigger": "button", "accuracy_m": 20} for _ in tokens]
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        # warm-up: open the server's database connections before timing anything
        for _ in range(3):
            await asyncio.gather(*(client.get("/readyz") for _ in range(concurrency)))
        wall = time.perf_counter()
        opened = await timed_posts(
            client, list(zip(tokens, keys, bodies, strict=True)), concurrency, 201
        )
        wall = time.perf_counter() - wall
        replayed = await timed_posts(
            client, list(zip(tokens, keys, bodies, strict=True)), concurrency, 200
        )
        joined = await timed_posts(
            client, [(t, str(uuid.uuid4()), {"trigger": "fall"}) for t in tokens], concurrency, 200
        )
    print(describe("new SOS (201, opens incident)", opened))
    print(describe("retry, same key (200 replay)", replayed))
    print(describe("second press (200 joins)", joined))
    print(
        f"{'new SOS throughput':<34} {len(opened) / wall:7.1f} incidents/s "
        f"at concurrency {concurrency}"
    )


async def bench_match(url: str, org_id: uuid.UUID, zones: int, samples: int = 500) -> None:
    engine = create_engine(url)
    latencies = []
    async with create_sessionmaker(engine)() as session:
        side = int(zones**0.5) + 1
        for i in range(samples):
            lat = 16.5 + (i % side) * 0.01 + 0.004
            lon = 103.0 + ((i * 7) % side) * 0.01 + 0.004
            start = time.perf_counter()
            await match_zones(session, org_id, lat=lat, lon=lon, accuracy_m=50)
            latencies.append(time.perf_counter() - start)
    await engine.dispose()
    print(describe(f"zone match among {zones} zones", latencies))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--elders", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--zones", type=int, default=2000)
    parser.add_argument("--responders", type=int, default=100)
    args = parser.parse_args()
    url = scratch_database("phikat_bench_sos")
    org_id, tokens = asyncio.run(seed(url, args.elders, args.zones, args.responders))
    server = Server(url)
    try:
        asyncio.run(bench_http(server.base_url, tokens, args.concurrency))
    finally:
        server.stop()
    asyncio.run(bench_match(url, org_id, args.zones))


if __name__ == "__main__":
    main()
