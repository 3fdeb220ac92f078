"""The floor of an SOS's way to an offer: its bare parts, each at concurrency 1 (issue 17).

What no SOS can do without, each measured alone, on the same machine, in the same run as
the figure it is compared with:

1. one HTTP round trip: the SOS benches' own client (``bench.surge.phones``, aiohttp)
   posting a small JSON body to a bare ASGI app under uvicorn in a process of its own,
   answered 201 with a small JSON body;
2. one INSERT+COMMIT: raw psycopg, autocommit, a row with a JSONB body into a logged table;
3. one PostGIS point query: ``bench.zone_match.BARE`` (``ST_Covers`` over the zones'
   GiST index), prepared, raw psycopg;
4. one socket send: a frame of an ``offer.sent``'s size from the bare server to a
   WebSocket client on loopback, from its send (stamped on the shared monotonic clock)
   to its arrival.

The floor is the sum of the parts' p50 (and, as a bound, of their p99s).
"""

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import psycopg
from websockets.asyncio.client import connect

from bench.common import ROOT, free_port, percentile
from bench.surge import phones
from bench.zone_match import BARE

# About the size of a real offer.sent frame on a responder's socket.
FRAME_PAD = "x" * 420
ANSWER = json.dumps(
    {"incident_id": str(uuid.uuid4()), "state": "dispatching", "location_source": "home"}
).encode()
TABLE = "bench_floor_insert"

Point = tuple[uuid.UUID, float, float]  # organization, lat, lon


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bare ASGI app: any HTTP request is answered 201; on a WebSocket, every frame
    received is answered with a frame stamped with its send time."""
    if scope["type"] == "http":
        while (await receive()).get("more_body"):
            pass
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": ANSWER})
    elif scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        while (await receive())["type"] == "websocket.receive":
            frame = {"event": "offer.sent", "data": FRAME_PAD, "sent": time.monotonic()}
            await send({"type": "websocket.send", "text": json.dumps(frame)})


def serve_bare(port: int) -> None:
    import uvicorn

    uvicorn.run(bare_app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")


async def _timed(samples: int, one: Callable[[], Awaitable[float | None]]) -> list[float]:
    """``samples`` runs after 50 to warm up, in ms; ``one`` may report its own time."""
    times = []
    for n in range(samples + 50):
        started = time.perf_counter()
        own = await one()
        took = own if own is not None else time.perf_counter() - started
        if n >= 50:
            times.append(took * 1000)
    return times


async def measure(conninfo: str, points: list[Point], samples: int = 500) -> dict[str, list[float]]:
    """Each part's latencies in ms, measured one after the other at concurrency 1."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.floor", str(port), cwd=ROOT, stdin=subprocess.DEVNULL
    )
    parts: dict[str, list[float]] = {}
    try:
        async with phones(f"http://127.0.0.1:{port}") as client:  # the SOS benches' client
            for _ in range(100):
                try:
                    async with client.get("/") as answer:
                        await answer.read()
                    break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            body = {"trigger": "button", "accuracy_m": 20}

            async def http() -> None:
                headers = {"Idempotency-Key": "k"}
                async with client.post("/v1/sos", json=body, headers=headers) as answer:
                    await answer.read()
                    assert answer.status == 201

            parts["HTTP round trip (bare uvicorn app)"] = await _timed(samples, http)

        async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
            await conn.execute(
                f"create table if not exists {TABLE} (id bigint generated always as identity "
                "primary key, created_at timestamptz not null default now(), data jsonb not null)"
            )
            row = json.dumps({"trigger": "button", "accuracy_m": 20, "lat": 16.8, "lon": 103.2})

            async def insert() -> None:
                await conn.execute(f"insert into {TABLE} (data) values (%s)", (row,), prepare=True)

            parts["INSERT + COMMIT (psycopg)"] = await _timed(samples, insert)
            await conn.execute(f"drop table {TABLE}")
            turn = iter(range(10**9))

            async def point_query() -> None:
                org, lat, lon = points[next(turn) % len(points)]
                cursor = await conn.execute(BARE, (org, lon, lat), prepare=True)
                assert await cursor.fetchone()

            parts["PostGIS point query (ST_Covers)"] = await _timed(samples, point_query)

        async with connect(f"ws://127.0.0.1:{port}/", max_queue=None) as ws:

            async def socket_send() -> float:
                await ws.send("go")
                frame = json.loads(await ws.recv())
                return time.monotonic() - float(frame["sent"])

            parts["socket send (frame to a WebSocket)"] = await _timed(samples, socket_send)
    finally:
        proc.terminate()
        await proc.wait()
    return parts


def table(parts: dict[str, list[float]]) -> tuple[str, float, float]:
    """A markdown table of the parts and their sum; the floor's p50 and p99 (sums)."""
    lines = ["| part of the floor (concurrency 1) | p50 | p99 |", "| --- | --- | --- |"]
    p50 = p99 = 0.0
    for name, ms in parts.items():
        lines.append(f"| {name} | {percentile(ms, 50):.3f} ms | {percentile(ms, 99):.3f} ms |")
        p50 += percentile(ms, 50)
        p99 += percentile(ms, 99)
    lines.append(f"| **floor (sum)** | **{p50:.3f} ms** | {p99:.3f} ms |")
    return "\n".join(lines), p50, p99


if __name__ == "__main__":  # the bare server, in a process of its own
    if len(sys.argv) != 2:
        sys.exit("the floor is measured by scripts/bench sos_to_offer (python -m bench.floor PORT)")
    serve_bare(int(sys.argv[1]))
