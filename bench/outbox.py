"""Outbox throughput to a fake FCM, and SOS-to-first-push latency.

The fake of the FCM HTTP v1 API (tests/fake_fcm.py) runs in a process of its
own; messages go through the real firebase-admin SDK.

1. N offer messages queued at once (default 5,000, one device each): time for
   one sender to drain them (messages/s), in batches of 500 (FCM's limit):
   claim, send and record one batch after the other (``send_due``), then the
   running sender's push lane (several leased batches in flight at once).
   Beside them, in the same run (issue 17, figure 7): the floor, the fake's own rate
   for the same request bodies posted by a bare httpx client with as many requests in
   flight as the channel allows; and the FCM channel alone (the SDK, no database).
   Then the production layout: ``--workers`` ``phikat worker`` processes drain N more.
2. A `phikat serve` with its in-process sender: an elder presses SOS; measured
   from the request to the fake receiving the responder's push (p50/p99).

    scripts/bench outbox [--messages 5000] [--sos 50] [--workers 2] [--profile FILE]

``--profile FILE``: py-spy samples this process while the running sender drains
(``--format raw``: collapsed stacks, one per line).
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import httpx
from firebase_admin import messaging
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.common import (
    ROOT,
    Server,
    Worker,
    describe,
    free_port,
    scratch_database,
    start_profile,
    stop_profile,
)
from bench.live import SECRET, seed
from core.db import create_engine, create_sessionmaker
from core.settings import Settings
from core.uow import unit_of_work
from notifications.channels import fcm
from notifications.channels.base import Channel, Delivery
from notifications.channels.factory import build_channels
from notifications.channels.fcm import build_message
from notifications.devices import register_device
from notifications.messages import Message, Recipient, Route
from notifications.models import OutboxMessage, OutboxState, PushDevice
from notifications.outbox import enqueue
from notifications.schemas import DeviceCreate
from notifications.sender import SenderOptions, run_sender, send_due
from tests.fake_fcm import PROJECT, service_account_file

FLOOR = "floor: bare aiohttp client -> the fake FCM"


def start_fake() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_fcm", "--port", str(port)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(f"{url}/_recorded", timeout=1)
            return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("fake FCM did not start")


async def queue(maker: async_sessionmaker[AsyncSession], count: int) -> None:
    async with unit_of_work(maker) as session:
        org_id = (await session.execute(text("select id from organization limit 1"))).scalar_one()
        user_id = (
            await session.execute(text("select id from app_user where role = 'responder'"))
        ).scalar_one()
        await session.execute(delete(PushDevice))
        await register_device(
            session,
            organization_id=org_id,
            user_id=user_id,
            elder_id=None,
            data=DeviceCreate(fcm_token="bench-device", platform="android"),
        )
        for i in range(count):
            enqueue(
                session,
                Message(
                    organization_id=org_id,
                    kind="offer",
                    route=Route.PUSH,
                    recipient=Recipient(user_id=user_id),
                    template="offer",
                    values={"elder": f"Elder {i}", "distance": "300 m", "timeout": "60"},
                    urgent=True,
                    ttl_s=60,
                ),
            )


async def pending(maker: async_sessionmaker[AsyncSession]) -> int:
    async with maker() as session:
        query = select(func.count()).where(OutboxMessage.state == OutboxState.PENDING)
        return int(await session.scalar(query.select_from(OutboxMessage)) or 0)


def deliveries(count: int) -> list[Delivery]:
    return [
        Delivery(
            message_id=uuid.uuid4(),
            address="bench-device",
            title="SOS: Elder",
            body="300 m away. Accept within 60 s.",
            data={"incident_id": str(uuid.uuid4()), "offer_id": str(uuid.uuid4())},
            ttl_s=60,
            urgent=True,
            platform="android",
        )
        for _ in range(count)
    ]


async def bare_posts(fake_url: str, count: int, client: str) -> float:
    """The fake's own rate: the SDK's request bodies, encoded beforehand, posted by a bare
    aiohttp or httpx client with as many in flight as the FCM channel sends at once."""
    in_flight = fcm.CHUNK * fcm.CHUNKS_AT_ONCE
    bodies = [
        json.dumps({"message": messaging._MessagingService.encode_message(build_message(d))})
        for d in deliveries(count)
    ]
    headers = {"Authorization": "Bearer fake", "Content-Type": "application/json"}
    url = f"{fake_url}/v1/projects/{PROJECT}/messages:send"
    gate = asyncio.Semaphore(in_flight)
    if client == "aiohttp":
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=in_flight))

        async def post(body: str) -> int:
            async with session.post(url, data=body, headers=headers) as answer:
                await answer.read()
                return answer.status

        close: Callable[[], Awaitable[None]] = session.close
    else:
        limits = httpx.Limits(max_connections=in_flight, max_keepalive_connections=in_flight)
        httpx_client = httpx.AsyncClient(limits=limits, timeout=30)

        async def post(body: str) -> int:
            return (await httpx_client.post(url, content=body, headers=headers)).status_code

        close = httpx_client.aclose

    async def one(body: str) -> None:
        async with gate:
            status = await post(body)
            assert status == 200, status

    try:
        await asyncio.gather(*(one(b) for b in bodies[:200]))  # open the connections
        started = time.perf_counter()
        await asyncio.gather(*(one(b) for b in bodies))
        return count / (time.perf_counter() - started)
    finally:
        await close()


async def channel_alone(channel: Channel, count: int) -> float:
    """The FCM channel (firebase-admin) alone, batches of 500, no database."""
    batches = deliveries(count)
    await channel.send(batches[:100])  # the access token, the connections
    started = time.perf_counter()
    for i in range(0, count, 500):
        outcomes = await channel.send(batches[i : i + 500])
        assert all(o.ok for o in outcomes), outcomes[0]
    return count / (time.perf_counter() - started)


async def throughput(
    url: str, settings: Settings, count: int, fake_url: str, profile: str | None, workers: int
) -> None:
    engine = create_engine(url)
    maker = create_sessionmaker(engine)
    channels = build_channels(settings)
    rates = {FLOOR: await bare_posts(fake_url, count, "aiohttp")}
    try:
        rates["bare httpx client -> the fake FCM"] = await bare_posts(fake_url, count, "httpx")
    except httpx.TransportError as exc:  # seen once in a smoke run: a comparison, not a floor
        print(f"bare httpx client: {type(exc).__name__} ({exc}); no figure", flush=True)
    rates["FCM channel alone (firebase-admin, no database)"] = await channel_alone(
        channels.push, count
    )
    await queue(maker, count)
    started = time.perf_counter()
    sent = 0
    while handled := await send_due(maker, channels):
        sent += handled
    rates["outbox, batch by batch (send_due)"] = sent / (time.perf_counter() - started)

    await queue(maker, count)
    spy = await start_profile(profile, os.getpid())
    stop = asyncio.Event()
    started = time.perf_counter()
    sender = asyncio.create_task(
        run_sender(maker, channels, stop=stop, options=SenderOptions.from_settings(settings))
    )
    while await pending(maker):  # noqa: ASYNC110 - the sender runs elsewhere in this loop
        await asyncio.sleep(0.05)
    elapsed = time.perf_counter() - started
    stop.set()
    await sender
    await stop_profile(spy)
    rates["outbox, running sender (run_sender)"] = count / elapsed
    await channels.close()

    if workers:  # the production layout: `phikat worker` processes, each with its sender
        env = {
            "PHIKAT_SECRET_KEY": SECRET,
            "PHIKAT_FCM_CREDENTIALS": str(settings.fcm_credentials),
            "PHIKAT_FCM_ENDPOINT": fake_url,
        }
        senders = [Worker(url, **env) for _ in range(workers)]
        try:
            await asyncio.sleep(5)  # started, polling an empty outbox
            await queue(maker, count)
            started = time.perf_counter()
            while await pending(maker):  # noqa: ASYNC110 - the workers drain it
                await asyncio.sleep(0.05)
            rates[f"outbox, {workers} `phikat worker` processes"] = count / (
                time.perf_counter() - started
            )
        finally:
            for worker in senders:
                worker.stop()
    await engine.dispose()
    floor = rates[FLOOR]
    print(f"\n{count:,} pushes, one FCM v1 request each\n")
    print("| pushes to the fake FCM | pushes/s | floor rate / rate |\n| --- | --- | --- |")
    for what, rate in rates.items():
        print(f"| {what} | {rate:,.0f}/s | {floor / rate:.2f} |")
    best = max(rate for what, rate in rates.items() if what.startswith("outbox"))
    print(f"\ngoal 1,000 pushes/s: {'met' if best >= 1000 else 'missed'} ({best:,.0f}/s)\n")


async def pushes(client: httpx.AsyncClient, fake_url: str) -> list[dict[str, float]]:
    response = await client.get(f"{fake_url}/_recorded", params={"token": "bench-responder"})
    return list(response.json())


async def sos_to_push(server: Server, fake_url: str, elders: list[str], responder: str) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        await client.post(
            "/v1/devices",
            json={"fcm_token": "bench-responder", "platform": "android"},
            headers={"Authorization": f"Bearer {responder}"},
        )
        latencies = []
        for token in elders:
            before = len(await pushes(client, fake_url))
            started = time.time()
            response = await client.post(
                "/v1/sos",
                json={"trigger": "button"},
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())},
            )
            assert response.status_code == 201, response.text
            while True:
                recorded = await pushes(client, fake_url)
                if len(recorded) > before:
                    latencies.append(recorded[before]["at"] - started)
                    break
                await asyncio.sleep(0.005)
    print(describe("SOS sent -> push at fake FCM", latencies))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--sos", type=int, default=50)
    parser.add_argument("--profile", help="py-spy's raw samples of the running sender here")
    parser.add_argument("--workers", type=int, default=2, help="phikat worker processes")
    args = parser.parse_args()
    fake, fake_url = start_fake()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            account = service_account_file(Path(tmp) / "sa.json", f"{fake_url}/token")
            url = scratch_database("phikat_bench_outbox")
            elders, responder, _ = asyncio.run(seed(url, args.sos))
            settings = Settings(
                database_url=url,
                secret_key=SECRET,
                fcm_credentials=str(account),
                fcm_endpoint=fake_url,
            )
            asyncio.run(
                throughput(url, settings, args.messages, fake_url, args.profile, args.workers)
            )
            server = Server(
                url,
                PHIKAT_SECRET_KEY=SECRET,
                PHIKAT_FCM_CREDENTIALS=str(account),
                PHIKAT_FCM_ENDPOINT=fake_url,
            )
            try:
                asyncio.run(sos_to_push(server, fake_url, elders, responder))
            finally:
                server.stop()
    finally:
        fake.terminate()
        fake.wait()


if __name__ == "__main__":
    main()
