"""SOS to offer on the responders' sockets at a steady rate, beside its floor (issue 17,
figure 2).

    scripts/bench sos_to_offer [--rate 100] [--seconds 60] [--steps 10 20 40 70]
                               [--step-seconds 10] [--servers 2] [--profile FILE]

Against ``scripts/bench national load``'s data, with the production layout: ``phikat
serve`` processes (no in-process worker) and one ``phikat worker`` (deadlines, outbox).
Elders are drawn from whole provinces, among those whose home village has a zone team
(so every SOS has somebody to offer), and every responder of those provinces holds a live
socket, spread over the servers. Each SOS comes from a distinct elder, open-loop at an even
rate whatever the answers take; a phone retries as the app does (``bench.surge.press``).
Measured per SOS: from its first send to the 2xx, and to the first ``offer.sent`` of its
incident on a responder's socket.

In one run: the floor (``bench.floor``: one HTTP round trip, one INSERT+COMMIT, one PostGIS
point query, one socket send, at concurrency 1, servers idle); then short stages at rising
rates (``--steps``), stopping at the first the service does not keep up with; then
``--rate`` for ``--seconds``. A stage is sustained when every SOS is answered and the
answers complete at 95 % of the offered rate or more; the backlog is what was sent but not
yet answered when the sending stopped. ``--profile FILE``: py-spy samples the first server
during the steps.
"""

import argparse
import asyncio
import csv
import json
import random
import time
import uuid
from dataclasses import dataclass, field

import aiohttp
import psycopg
from sqlalchemy.engine import make_url
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from bench import floor
from bench.common import Server, Worker, percentile, start_profile, stop_profile
from bench.live import SECRET, hello
from bench.national import TOKENS, national_url
from bench.surge import CLEAN, phones, press
from core.migrations import upgrade_to_head
from core.security import create_access_token
from core.tenancy.models import Role

# Elders whose home village has a zone team: wave 1 always has somebody to offer.
WITH_TEAM = """
select e.id from elder e where e.organization_id = %s and exists (
  select 1 from care_zone z join responder_zone rz on rz.zone_id = z.id
  where z.organization_id = e.organization_id and ST_Covers(z.geom, e.home))
"""
DEVICES = """
insert into push_device (id, organization_id, user_id, fcm_token, platform)
select gen_random_uuid(), organization_id, id, 'bench-' || id, 'android' from responder
where organization_id = any(%s) on conflict (fcm_token) do nothing
"""
PROVINCES = "select id from organization where code like 'p%%' order by length(code), code"
GOAL_RATIO, GOAL_P99_MS = 3.0, 20.0


@dataclass
class Offers:
    """``offer.sent`` arrivals per incident, over every responder socket."""

    arrivals: dict[str, float] = field(default_factory=dict)
    closed: int = 0

    async def read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                frame = json.loads(raw)
                if frame.get("event") == "offer.sent":
                    self.arrivals.setdefault(frame["incident_id"], time.perf_counter())
        except ConnectionClosed:
            self.closed += 1
        else:
            self.closed += 1


@dataclass
class Stage:
    rate: float
    seconds: float
    sent: int
    answered: list[tuple[float, int, str, float]]  # surge.press's (ms, retries, incident, sent)
    errors: list[str]
    sending_s: float  # how long the sending took (longer than planned: the client lagged)
    backlog: int  # sent, not answered when the sending stopped
    completion_rate: float  # answered / (last answer - first send)
    to_offer_ms: list[float]
    no_offer: int

    @property
    def sustained(self) -> bool:
        return (
            not self.errors
            and len(self.answered) == self.sent
            and self.no_offer == 0
            and self.completion_rate >= 0.95 * self.rate
            and self.sending_s <= 1.05 * self.seconds + 0.5  # the client kept the pace
        )


def provinces_and_elders(
    conninfo: str, needed: int
) -> tuple[list[uuid.UUID], list[dict[str, str]]]:
    """Whole provinces, in order, until they hold ``needed`` elders with a zone team at home;
    those elders' rows of the tokens file, shuffled."""
    chosen, ids = [], set()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for (org,) in conn.execute(PROVINCES).fetchall():
            chosen.append(org)
            ids |= {str(row[0]) for row in conn.execute(WITH_TEAM, (org,))}
            if len(ids) >= needed:
                break
    if len(ids) < needed:
        raise SystemExit(f"only {len(ids)} elders with a zone team at home; lower --rate/--seconds")
    with TOKENS.open() as f:
        rows = [row for row in csv.DictReader(f) if row["elder_id"] in ids]
    random.Random(2).shuffle(rows)
    return chosen, rows[:needed]


def responder_tokens(conninfo: str, orgs: list[uuid.UUID]) -> list[str]:
    """Access tokens of the provinces' responders; each has a phone registered for push, as
    the app does at sign-in (else every offer's push fails, and each failure is one more
    event on the incident, fanned out to every socket of its province)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(DEVICES, (orgs,))
        rows = conn.execute(
            "select id, organization_id from responder where organization_id = any(%s)", (orgs,)
        ).fetchall()
    return [
        create_access_token(
            secret=SECRET, user_id=rid, role=Role.RESPONDER.value, organization_id=org, ttl_s=7200
        )[0]
        for rid, org in rows
    ]


async def open_sockets(
    servers: list[Server], tokens: list[str], offers: Offers
) -> list[ClientConnection]:
    gate = asyncio.Semaphore(20)

    async def one(n: int, token: str) -> ClientConnection:
        async with gate:
            ws = await hello(servers[n % len(servers)].ws_url, token)
        asyncio.create_task(offers.read(ws))  # noqa: RUF006 - ends when the socket closes
        return ws

    return list(await asyncio.gather(*(one(n, t) for n, t in enumerate(tokens))))


async def warm(client: aiohttp.ClientSession) -> None:
    async with client.get("/readyz") as answer:
        await answer.read()


async def stage(
    clients: list[aiohttp.ClientSession],
    tokens: list[str],
    *,
    rate: float,
    offers: Offers,
    drain_s: float,
) -> Stage:
    outcomes: list[object] = []
    started = time.perf_counter()
    tasks = []
    for n, token in enumerate(tokens):
        await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(press(clients[n % len(clients)], token, outcomes)))
    sending_s = time.perf_counter() - started
    backlog = len(tokens) - sum(1 for o in outcomes if isinstance(o, tuple))
    _, late = await asyncio.wait(tasks, timeout=drain_s)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    answered = [o for o in outcomes if isinstance(o, tuple)]
    errors = [str(o) for o in outcomes if not isinstance(o, tuple)]
    errors += ["not answered when the bench stopped waiting"] * len(late)
    for _ in range(100):  # the offers of answered SOS may still be on their way
        if all(a[2] in offers.arrivals for a in answered):
            break
        await asyncio.sleep(0.1)
    last = max((a[3] + a[0] / 1000 for a in answered), default=started)
    to_offer = [(offers.arrivals[a[2]] - a[3]) * 1000 for a in answered if a[2] in offers.arrivals]
    return Stage(
        rate=rate,
        seconds=len(tokens) / rate,
        sent=len(tokens),
        answered=answered,
        errors=errors,
        sending_s=sending_s,
        backlog=backlog,
        completion_rate=len(answered) / max(last - started, 1e-9),
        to_offer_ms=to_offer,
        no_offer=len(answered) - len(to_offer),
    )


def row(s: Stage, floor_p50: float) -> str:
    def pct(values: list[float], p: float) -> str:
        return f"{percentile(values, p):,.1f}" if values else "—"

    answer_ms = [a[0] for a in s.answered]
    ratio = f"{percentile(s.to_offer_ms, 50) / floor_p50:,.1f}" if s.to_offer_ms else "—"
    return (
        f"| {s.rate:g}/s × {s.seconds:g} s | {s.sent:,} in {s.sending_s:.0f} s "
        f"| {len(s.answered):,} (errors {len(s.errors):,}) | {s.completion_rate:,.1f}/s "
        f"| {s.backlog:,} "
        f"| {pct(answer_ms, 50)} / {pct(answer_ms, 99)} ms "
        f"| {pct(s.to_offer_ms, 50)} / {pct(s.to_offer_ms, 99)} ms | {ratio} "
        f"| {'yes' if s.sustained else 'no'} |"
    )


async def run(servers: list[Server], conninfo: str, args: argparse.Namespace) -> None:
    steps = [r for r in args.steps if r < args.rate]
    needed = int(sum(steps) * args.step_seconds + args.rate * args.seconds)
    orgs, elders = provinces_and_elders(conninfo, needed)
    points = [(uuid.UUID(e["organization_id"]), float(e["lat"]), float(e["lon"])) for e in elders]
    parts = await floor.measure(conninfo, points[:2000])
    floor_table, floor_p50, _ = floor.table(parts)
    print(floor_table, "\n", flush=True)

    offers = Offers()
    responders = responder_tokens(conninfo, orgs)
    started = time.perf_counter()
    sockets = await open_sockets(servers, responders, offers)
    print(
        f"{len(sockets):,} responder sockets of {len(orgs)} provinces open in "
        f"{time.perf_counter() - started:.0f} s; {len(elders):,} elders, each presses once\n",
        flush=True,
    )
    clients = [phones(s.base_url) for s in servers]
    tokens = [e["device_token"] for e in elders]
    for client in clients:  # open the servers' database connections before timing anything
        for _ in range(3):
            await asyncio.gather(*(warm(client) for _ in range(20)))
    header = (
        "| offered | sent | answered 2xx | completed at | backlog when sending stopped "
        "| SOS → 2xx p50 / p99 | SOS → offer on a socket p50 / p99 | offer p50 / floor p50 "
        "| sustained |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    print(header, flush=True)
    stages, used = [], 0
    spy = await start_profile(args.profile, servers[0].proc.pid)
    for rate in steps:
        count = int(rate * args.step_seconds)
        result = await stage(
            clients, tokens[used : used + count], rate=rate, offers=offers, drain_s=30
        )
        used += count
        stages.append(result)
        print(row(result, floor_p50), flush=True)
        await asyncio.sleep(3)
        if not result.sustained:
            break
    await stop_profile(spy)
    count = int(args.rate * args.seconds)
    main = await stage(
        clients, tokens[used : used + count], rate=args.rate, offers=offers, drain_s=args.drain
    )
    print(row(main, floor_p50), flush=True)
    closed = offers.closed
    for client in clients:
        await client.close()
    for ws in sockets:
        ws.close_timeout = 1  # servers still busy with a backlog answer a close late
    await asyncio.gather(*(ws.close() for ws in sockets))
    report(main, [s for s in stages if s.sustained], floor_p50, closed, len(sockets))


def report(
    main: Stage, sustained: list[Stage], floor_p50: float, closed: int, sockets: int
) -> None:
    print(f"\nfloor p50 {floor_p50:.3f} ms; goal: SOS → offer p50 within {GOAL_RATIO:g} × floor")
    print(f"({GOAL_RATIO * floor_p50:.1f} ms) and p99 under {GOAL_P99_MS:g} ms at {main.rate:g}/s")
    if main.sustained:
        best = main
    elif sustained:
        best = max(sustained, key=lambda s: s.rate)
    else:
        best = None
    if best is None:
        print("no rate tried was sustained")
    else:
        p50, p99 = percentile(best.to_offer_ms, 50), percentile(best.to_offer_ms, 99)
        print(
            f"highest rate sustained: {best.rate:g}/s: SOS → offer p50 {p50:,.1f} ms "
            f"({p50 / floor_p50:,.1f} × floor), p99 {p99:,.1f} ms"
        )
    if not main.sustained:
        print(
            f"{main.rate:g}/s not sustained: answers completed at {main.completion_rate:,.1f}/s; "
            f"{main.backlog:,} of {main.sent:,} SOS unanswered when the sending stopped, "
            f"{len(main.errors):,} never answered 2xx"
        )
    if main.to_offer_ms:
        p50, p99 = percentile(main.to_offer_ms, 50), percentile(main.to_offer_ms, 99)
        met = p50 <= GOAL_RATIO * floor_p50 and p99 < GOAL_P99_MS and main.sustained
        print(
            f"at {main.rate:g}/s: SOS → offer p50 {p50:,.1f} ms ({p50 / floor_p50:,.1f} × floor), "
            f"p99 {p99:,.1f} ms, max {max(main.to_offer_ms):,.1f} ms: "
            f"goal {'met' if met else 'missed'}"
        )
    print(f"responder sockets closed by the server during the run: {closed} of {sockets}")
    for error in sorted(set(main.errors))[:5]:
        print("error:", error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--steps", type=float, nargs="*", default=[10.0, 20.0, 40.0, 70.0])
    parser.add_argument("--step-seconds", type=float, default=10.0)
    parser.add_argument("--drain", type=float, default=60.0, help="wait this long after sending")
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--profile", help="py-spy's raw samples of one server during the steps")
    args = parser.parse_args()
    url = national_url()
    upgrade_to_head(url)  # a migration may have landed since the load
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for statement in CLEAN:
            conn.execute(statement)  # a fresh start: no elder has an open incident
    env = {
        "PHIKAT_SECRET_KEY": SECRET,
        "PHIKAT_SOS_PRESSES_PER_MIN": "6",
        "PHIKAT_DB_POOL_SIZE": "20",
    }
    servers = [Server(url, PHIKAT_RUN_WORKER="false", **env) for _ in range(args.servers)]
    worker = Worker(url, **env)
    try:
        asyncio.run(run(servers, conninfo, args))
    finally:
        worker.stop()
        for server in servers:
            server.stop()


if __name__ == "__main__":
    main()
