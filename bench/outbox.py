"""Outbox throughput to a fake FCM, and SOS-to-first-push latency.

The fake of the FCM HTTP v1 API (tests/fake_fcm.py) runs in a process of its
own; messages go through the real firebase-admin SDK.

1. N offer messages queued at once (default 5,000, one device each): time for
   one sender to drain them (messages/s), in batches of 500 (FCM's limit):
   claim, send and record one batch after the other (``send_due``), then the
   running sender's push lane (several leased batches in flight at once).
2. A `phikat serve` with its in-process sender: an elder presses SOS; measured
   from the request to the fake receiving the responder's push (p50/p99).

    scripts/bench outbox [--messages 5000] [--sos 50]
"""

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench.common import ROOT, Server, describe, free_port, scratch_database
from bench.live import SECRET, seed
from core.db import create_engine, create_sessionmaker
from core.settings import Settings
from core.uow import unit_of_work
from notifications.channels.factory import build_channels
from notifications.devices import register_device
from notifications.messages import Message, Recipient, Route
from notifications.models import OutboxMessage, OutboxState, PushDevice
from notifications.outbox import enqueue
from notifications.schemas import DeviceCreate
from notifications.sender import SenderOptions, run_sender, send_due
from tests.fake_fcm import service_account_file


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


async def throughput(url: str, settings: Settings, count: int) -> None:
    engine = create_engine(url)
    maker = create_sessionmaker(engine)
    channels = build_channels(settings)
    await queue(maker, count)
    started = time.perf_counter()
    sent = 0
    while handled := await send_due(maker, channels):
        sent += handled
    report("outbox -> fake FCM, batch by batch", sent, time.perf_counter() - started)

    await queue(maker, count)
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
    report("outbox -> fake FCM, running sender", count, elapsed)
    await channels.close()
    await engine.dispose()


def report(what: str, sent: int, elapsed: float) -> None:
    print(f"{what:<36} {sent} messages in {elapsed:.2f} s = {sent / elapsed:,.0f} messages/s")


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
            asyncio.run(throughput(url, settings, args.messages))
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
