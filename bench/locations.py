"""Location ingest: sustained updates/s from moving responders, beside its floor (issue 17,
figure 6).

    scripts/bench locations [--responders 2000] [--seconds 30] [--concurrency 32] [--servers 2]
                            [--profile FILE]

Against ``scripts/bench national load``'s data. The responders (from every province) each
walk from their last position, 10 to 40 m per fix; the phones post
``POST /v1/responders/me/location`` (``{lat, lon, accuracy_m, recorded_at}``, aiohttp), each
responder in turn, from ``--concurrency`` requests in flight over ``phikat serve``
processes, as fast as they are answered (a closed loop: the service's capacity). The
per-responder limit (``PHIKAT_LOCATIONS_PER_MIN``, 30 by default: one fix per 2 s) is
raised so that it never refuses here; its UPSERT still runs on every request.

The floor, in the same run: the same rows updated by the same number of raw psycopg
connections, one autocommit ``UPDATE`` per fix (what ``dispatch.responders.record_location``
stores, with its "an older fix is ignored" condition), as fast as they go.
"""

import argparse
import asyncio
import math
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import httpx
import psycopg
from sqlalchemy import event
from sqlalchemy.engine import make_url

from api.app import create_app
from bench.common import Server, percentile, start_profile, stop_profile
from bench.live import SECRET
from bench.national import national_url
from bench.surge import phones
from core.migrations import upgrade_to_head
from core.security import create_access_token
from core.settings import Settings
from core.tenancy.models import Role

RESPONDERS = """
select id, organization_id, ST_Y(last_location), ST_X(last_location) from responder
order by id limit %s
"""
FLOOR = """
update responder set last_location = ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326),
  last_location_accuracy_m = %(accuracy_m)s, last_location_at = %(at)s
where id = %(id)s and (last_location_at is null or last_location_at < %(at)s)
"""
M_PER_DEGREE = 111_320.0


class Walker:
    """A responder on the move: each fix 10-40 m on from the last, in a drifting direction."""

    def __init__(self, responder_id: uuid.UUID, token: str, lat: float, lon: float) -> None:
        self.id, self.token, self.lat, self.lon = responder_id, token, lat, lon
        self.heading = random.uniform(0, 2 * math.pi)

    def step(self) -> dict[str, object]:
        self.heading += random.uniform(-0.5, 0.5)
        metres = random.uniform(10, 40)
        self.lat += metres * math.cos(self.heading) / M_PER_DEGREE
        self.lon += (
            metres * math.sin(self.heading) / (M_PER_DEGREE * math.cos(math.radians(self.lat)))
        )
        return {
            "lat": round(self.lat, 7),
            "lon": round(self.lon, 7),
            "accuracy_m": 10,
            "recorded_at": datetime.now(UTC).isoformat(),
        }


def walkers(conninfo: str, count: int) -> list[Walker]:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(RESPONDERS, (count,)).fetchall()
    return [
        Walker(
            rid,
            create_access_token(
                secret=SECRET,
                user_id=rid,
                role=Role.RESPONDER.value,
                organization_id=org,
                ttl_s=3600,
            )[0],
            lat,
            lon,
        )
        for rid, org, lat, lon in rows
    ]


async def closed_loop(
    people: list[Walker], concurrency: int, seconds: float, one: Callable[[Walker], Awaitable[str]]
) -> tuple[float, list[float], Counter[str]]:
    """``concurrency`` loops, each posting the next responder's fix as soon as the last is
    answered; after 2 s of warm-up, ``seconds`` counted. Returns (updates/s, ms, outcomes)."""
    turn = iter(range(10**12))
    latencies: list[float] = []
    outcomes: Counter[str] = Counter()
    loop = asyncio.get_running_loop()
    warm_until = loop.time() + 2
    stop_at = warm_until + seconds

    async def runner() -> None:
        while (now := loop.time()) < stop_at:
            walker = people[next(turn) % len(people)]
            started = time.perf_counter()
            outcome = await one(walker)
            if now >= warm_until:
                latencies.append((time.perf_counter() - started) * 1000)
                outcomes[outcome] += 1

    await asyncio.gather(*(runner() for _ in range(concurrency)))
    return outcomes["ok"] / seconds, latencies, outcomes


async def service(
    servers: list[Server], people: list[Walker], concurrency: int, seconds: float
) -> tuple[float, list[float], Counter[str]]:
    clients = [phones(s.base_url) for s in servers]  # aiohttp, as the SOS benches' phones
    turn = iter(range(10**12))

    async def post(walker: Walker) -> str:
        client = clients[next(turn) % len(clients)]
        try:
            async with client.post(
                "/v1/responders/me/location",
                json=walker.step(),
                headers={"Authorization": f"Bearer {walker.token}"},
            ) as answer:
                await answer.read()
                return "ok" if answer.status == 204 else str(answer.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return type(exc).__name__

    try:
        return await closed_loop(people, concurrency, seconds, post)
    finally:
        for client in clients:
            await client.close()


async def bare(
    conninfo: str, people: list[Walker], concurrency: int, seconds: float
) -> tuple[float, list[float], Counter[str]]:
    connections = [
        await psycopg.AsyncConnection.connect(conninfo, autocommit=True) for _ in range(concurrency)
    ]
    free: asyncio.Queue[psycopg.AsyncConnection[object]] = asyncio.Queue()
    for conn in connections:
        free.put_nowait(conn)

    async def update(walker: Walker) -> str:
        fix = walker.step()
        conn = await free.get()
        try:
            await conn.execute(
                FLOOR,
                {**fix, "id": walker.id, "at": datetime.fromisoformat(str(fix["recorded_at"]))},
                prepare=True,
            )
        finally:
            free.put_nowait(conn)
        return "ok"

    try:
        return await closed_loop(people, concurrency, seconds, update)
    finally:
        for conn in connections:
            await conn.close()


async def statements(url: str, walker: Walker) -> list[str]:
    """The SQL statements of one location post, the app in process (httpx's ASGI
    transport), counted as ``bench.list_statements`` does; each statement's first words."""
    settings = Settings(
        database_url=url, secret_key=SECRET, run_worker=False, locations_per_min=100_000
    )
    app = create_app(settings)
    seen: list[str] = []

    def capture(*args: Any) -> None:
        seen.append(" ".join(str(args[2]).split()[:6]))

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            headers = {"Authorization": f"Bearer {walker.token}"}
            for counting in (False, True):  # the first opens the pool's connection
                if counting:
                    event.listen(app.state.engine.sync_engine, "before_cursor_execute", capture)
                answer = await client.post(
                    "/v1/responders/me/location", json=walker.step(), headers=headers
                )
                assert answer.status_code == 204, answer.text
        event.remove(app.state.engine.sync_engine, "before_cursor_execute", capture)
    return seen


def line(name: str, result: tuple[float, list[float], Counter[str]], floor: float) -> str:
    rate, ms, outcomes = result
    other = ", ".join(f"{k}: {v}" for k, v in outcomes.items() if k != "ok") or "none"
    return (
        f"| {name} | {rate:,.0f}/s | {percentile(ms, 50):.2f} ms | {percentile(ms, 99):.2f} ms "
        f"| {floor / rate:.1f} | {other} |"
    )


async def run(servers: list[Server], url: str, conninfo: str, args: argparse.Namespace) -> None:
    random.seed(6)
    people = walkers(conninfo, args.responders)
    sql = await statements(url, people[0])
    spy = await start_profile(args.profile, servers[0].proc.pid)
    served = await service(servers, people, args.concurrency, args.seconds)
    await stop_profile(spy)
    floor = await bare(conninfo, people, args.concurrency, args.seconds)
    print(
        f"\nlocation ingest: {len(people):,} moving responders, {args.concurrency} updates in "
        f"flight, {len(servers)} server(s), {args.seconds:g} s each\n"
    )
    print("| ingest | updates/s | p50 | p99 | floor rate / rate | not 2xx |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(line("service: POST /v1/responders/me/location", served, floor[0]))
    print(line("floor: one UPDATE + COMMIT per fix (psycopg)", floor, floor[0]))
    print(f"\nSQL statements per location post (besides BEGIN and COMMIT): {len(sql)}")
    for statement in sql:
        print(f"  {statement} …")
    per_responder = served[0] / len(people)
    print(
        f"\nthat is one fix every {1 / per_responder:.1f} s from each of {len(people):,} "
        f"responders (the default limit allows one every 2 s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--responders", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--profile", help="py-spy's raw samples of one server while it ingests")
    args = parser.parse_args()
    url = national_url()
    upgrade_to_head(url)  # a migration may have landed since the load
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    env = {"PHIKAT_SECRET_KEY": SECRET, "PHIKAT_LOCATIONS_PER_MIN": "100000"}
    servers = [Server(url, PHIKAT_RUN_WORKER="false", **env) for _ in range(args.servers)]
    try:
        asyncio.run(run(servers, url, conninfo, args))
    finally:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    main()
