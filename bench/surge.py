"""A surge: SOS from thousands of distinct elders within two minutes (issue 17, figure 3).

    scripts/bench surge [--sos 10000] [--seconds 120] [--servers 2]

Against ``scripts/bench national load``'s data. Each elder's phone behaves as the app
does: one SOS with an Idempotency-Key, sent again with the same key after a transport
error, a 429 or a 503 (after its Retry-After), until it is answered 2xx or two minutes
pass. The SOS are sent open-loop at an even rate, whatever the answers take. Reported:
errors (an SOS never answered 2xx), p50/p99/max from the first send to the 2xx, and
the time until every incident has its first wave offered (or went to the officers).
"""

import argparse
import asyncio
import csv
import json
import random
import time
import uuid

import aiohttp
import psycopg
from sqlalchemy.engine import make_url

from bench.common import Server, percentile
from bench.national import TOKENS, national_url

GIVE_UP_S = 120.0
CLEAN = [
    "delete from incident_event",
    "delete from outbox_message",
    "delete from deadline",
    "delete from sos_request",
    "delete from incident",
    "delete from rate_limit",
]


def elders(count: int) -> list[str]:
    with TOKENS.open() as f:
        tokens = [row["device_token"] for row in csv.DictReader(f)]
    return random.Random(3).sample(tokens, count)


def phones(base_url: str) -> aiohttp.ClientSession:
    """The phones' HTTP client: aiohttp, whose cost per request stays flat with thousands
    in flight (httpx's pool scans every connection per request: with 2,000 the client,
    not the service, set the pace)."""
    connector = aiohttp.TCPConnector(limit=2000)
    timeout = aiohttp.ClientTimeout(total=30)
    return aiohttp.ClientSession(base_url=base_url, connector=connector, timeout=timeout)


async def press(client: aiohttp.ClientSession, token: str, outcomes: list[object]) -> None:
    key = str(uuid.uuid4())
    started = time.perf_counter()
    retries = 0
    while time.perf_counter() - started < GIVE_UP_S:
        try:
            async with client.post(
                "/v1/sos",
                json={"trigger": "button"},
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
            ) as answer:
                status, text = answer.status, await answer.text()
                retry_after = float(answer.headers.get("Retry-After", "1"))
        except (aiohttp.ClientError, TimeoutError):
            retries += 1
            await asyncio.sleep(1.0)
            continue
        if status in (200, 201):
            # (ms to the 2xx, retries, the incident, when it was first sent)
            incident = json.loads(text)["incident_id"]
            outcomes.append(((time.perf_counter() - started) * 1000, retries, incident, started))
            return
        if status in (429, 503):
            retries += 1
            await asyncio.sleep(retry_after)
            continue
        outcomes.append(f"{status}: {text[:120]}")
        return
    outcomes.append("never answered 2xx within two minutes")


async def first_waves_done(conninfo: str, since: float, *, limit_s: float) -> float | None:
    """Seconds from the surge's start until every incident opened has its first wave
    offered (or went to the officers: nobody to offer); None if not within ``limit_s``
    of the call (the whole benchmark has a time budget)."""
    give_up = time.perf_counter() + limit_s
    query = (
        "select count(*) from incident i where i.escalation_level = 0 "
        "and not exists (select 1 from offer o where o.incident_id = i.id)"
    )
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        while True:
            row = await (await conn.execute(query)).fetchone()
            if row is not None and row[0] == 0:
                return time.perf_counter() - since
            if time.perf_counter() > give_up:
                return None
            await asyncio.sleep(0.1)


async def surge(
    base_urls: list[str], conninfo: str, *, sos: int, seconds: float, wait_s: float
) -> None:
    tokens = elders(sos)
    outcomes: list[object] = []
    clients = [phones(url) for url in base_urls]
    started = time.perf_counter()
    tasks = []
    for n, token in enumerate(tokens):
        due = started + n * seconds / sos
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.create_task(press(clients[n % len(clients)], token, outcomes)))
    sent_in = time.perf_counter() - started
    await asyncio.gather(*tasks)
    answered_in = time.perf_counter() - started
    offered_in = await first_waves_done(conninfo, started, limit_s=wait_s)
    for client in clients:
        await client.close()
    latencies = [o[0] for o in outcomes if isinstance(o, tuple)]
    retried = sum(1 for o in outcomes if isinstance(o, tuple) and o[1])
    errors = [o for o in outcomes if not isinstance(o, tuple)]
    print(
        f"\nsurge: {sos:,} SOS from distinct elders sent over {sent_in:.0f} s "
        f"to {len(base_urls)} server(s)\n"
    )
    print("| measure | value |\n| --- | --- |")
    print(f"| errors (never 2xx) | {len(errors)} |")
    print(f"| answered after a retry (429/503/transport) | {retried} |")
    if latencies:
        for name, p in (("p50", 50), ("p99", 99)):
            print(f"| SOS latency {name} | {percentile(latencies, p):.0f} ms |")
        print(f"| SOS latency max | {max(latencies):.0f} ms |")
    print(f"| last SOS answered | {answered_in:.0f} s after the first was sent |")
    if offered_in is None:
        print(f"| every first wave offered | not within {wait_s:.0f} s of the last answer |")
    else:
        print(f"| every first wave offered | {offered_in:.0f} s after the first was sent |")
    for error in errors[:5]:
        print("error:", error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sos", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--wait", type=float, default=120.0, help="for the first waves, at most")
    args = parser.parse_args()
    url = national_url()
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for statement in CLEAN:
            conn.execute(statement)  # a fresh start: no elder has an open incident
    env = {"PHIKAT_SOS_PRESSES_PER_MIN": "6", "PHIKAT_DB_POOL_SIZE": "20"}
    servers = [Server(url, PHIKAT_RUN_WORKER="false", **env) for _ in range(args.servers)]
    try:
        asyncio.run(
            surge(
                [s.base_url for s in servers],
                conninfo,
                sos=args.sos,
                seconds=args.seconds,
                wait_s=args.wait,
            )
        )
    finally:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    main()
