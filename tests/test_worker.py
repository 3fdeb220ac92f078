"""The deadline worker: rows claimed with SKIP LOCKED survive crashes, restarts and
competing workers, and every deadline takes effect exactly once."""

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import create_engine, create_sessionmaker
from core.events.models import IncidentEvent
from core.settings import Settings
from core.uow import unit_of_work
from dispatch import deadlines, offers
from dispatch.models import Deadline
from tests.dispatch_helpers import Scene, add_responder, sos
from tests.factories import World, add_elder, bearer

Maker = async_sessionmaker[AsyncSession]


async def make_due(sessionmaker: Maker, world: World) -> int:
    """Bring every unfired deadline of the organization to now."""
    async with unit_of_work(sessionmaker) as session:
        result = await session.execute(
            update(Deadline)
            .where(Deadline.organization_id == world.org_id, Deadline.fired_at.is_(None))
            .values(due_at=func.now() - func.make_interval(0, 0, 0, 0, 0, 0, 1))
        )
        return int(result.rowcount)  # type: ignore[attr-defined]


async def expired_events(sessionmaker: Maker, world: World) -> Counter[str]:
    """How often each offer got an offer.expired event."""
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(IncidentEvent).where(
                IncidentEvent.organization_id == world.org_id,
                IncidentEvent.name == "offer.expired",
            )
        )
        return Counter(e.data["offer_id"] for e in rows)


async def unfired(sessionmaker: Maker, world: World, ids: list[int]) -> int:
    async with sessionmaker() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(Deadline)
                .where(Deadline.id.in_(ids), Deadline.fired_at.is_(None))
            )
            or 0
        )


async def due_ids(sessionmaker: Maker, world: World) -> list[int]:
    async with sessionmaker() as session:
        return list(
            await session.scalars(
                select(Deadline.id).where(
                    Deadline.organization_id == world.org_id, Deadline.fired_at.is_(None)
                )
            )
        )


async def many_incidents(
    client: httpx.AsyncClient, world: World, sessionmaker: Maker, settings: Settings, count: int
) -> None:
    scene = Scene(world)
    await add_responder(sessionmaker, settings, scene, "a", metres_north=100)
    await add_responder(sessionmaker, settings, scene, "b", metres_north=300)
    async with unit_of_work(sessionmaker) as session:
        tokens = [
            (await add_elder(session, world.org_id, name=f"Elder {i}"))[2] for i in range(count - 1)
        ]
    await sos(client, world)
    for token in tokens:
        response = await client.post(
            "/v1/sos", json={}, headers={**bearer(token), "Idempotency-Key": str(uuid.uuid4())}
        )
        assert response.status_code == 201


async def test_a_deadline_held_by_a_dead_worker_fires_once_after_it_dies(
    client: httpx.AsyncClient, world: World, sessionmaker: Maker, database_url: str
) -> None:
    await sos(client, world)
    # One offer, two deadlines: its expiry and its delivery-receipt check.
    assert await make_due(sessionmaker, world) == 2
    conninfo = (
        make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    # Another worker claimed the deadline and is still in its transaction...
    dying = await psycopg.AsyncConnection.connect(conninfo)
    await dying.execute(
        "select id from deadline where organization_id = %s and fired_at is null for update",
        (world.org_id,),
    )
    assert await deadlines.fire_due(sessionmaker, organization_id=world.org_id) == 0  # skipped
    # ...and dies without committing: its claim vanishes with its connection.
    await dying.close()
    assert await deadlines.fire_due(sessionmaker, organization_id=world.org_id) == 2
    assert await deadlines.fire_due(sessionmaker, organization_id=world.org_id) == 0
    assert list((await expired_events(sessionmaker, world)).values()) == [1]


async def test_a_handler_that_fails_midway_rolls_back_and_is_retried_once(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await sos(client, world)
    await make_due(sessionmaker, world)
    real_expire = offers.expire_offer
    calls = 0

    async def crash_after_the_work(session: AsyncSession, **kwargs: object) -> None:
        nonlocal calls
        calls += 1
        await real_expire(session, **kwargs)  # type: ignore[arg-type]
        raise ConnectionResetError("the process died here")

    monkeypatch.setattr(offers, "expire_offer", crash_after_the_work)
    await deadlines.fire_due(sessionmaker, organization_id=world.org_id)
    assert calls == 1
    assert await expired_events(sessionmaker, world) == Counter()  # all of it rolled back
    async with sessionmaker() as session:
        failed = await session.scalar(
            select(Deadline).where(Deadline.organization_id == world.org_id, Deadline.attempts == 1)
        )
    assert failed is not None and "the process died here" in (failed.last_error or "")
    assert failed.fired_at is None

    monkeypatch.setattr(offers, "expire_offer", real_expire)
    await make_due(sessionmaker, world)
    await deadlines.fire_due(sessionmaker, organization_id=world.org_id)
    assert list((await expired_events(sessionmaker, world)).values()) == [1]


async def test_two_workers_in_one_process_never_fire_a_deadline_twice(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    settings: Settings,
    database_url: str,
) -> None:
    await many_incidents(client, world, sessionmaker, settings, count=10)
    ids = await due_ids(sessionmaker, world)
    # 30 offers, each with an expiry and a receipt deadline
    assert len(ids) == 60 and await make_due(sessionmaker, world) == 60
    engines = [create_engine(database_url, pool_size=2) for _ in range(2)]
    try:
        fired = await asyncio.gather(
            *(
                deadlines.fire_due(create_sessionmaker(e), organization_id=world.org_id)
                for e in engines
            )
        )
    finally:
        for e in engines:
            await e.dispose()
    assert sum(fired) == 60
    assert all(n > 0 for n in fired), fired  # both really worked
    counts = await expired_events(sessionmaker, world)
    assert len(counts) == 30 and set(counts.values()) == {1}


@pytest.fixture
def worker_env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "PHIKAT_DATABASE_URL": database_url,
        "PHIKAT_WORKER_POLL_S": "0.1",
        "PHIKAT_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def spawn(worker_env: dict[str, str]) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def start_worker(env: dict[str, str], procs: list[subprocess.Popen[bytes]]) -> None:
    procs.append(
        subprocess.Popen(
            [sys.executable, "-m", "api", "worker"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
    )


async def wait_until_fired(sessionmaker: Maker, world: World, ids: list[int]) -> None:
    deadline = time.monotonic() + 30
    while await unfired(sessionmaker, world, ids):
        assert time.monotonic() < deadline, "the worker did not fire the deadlines"
        await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_worker_processes_survive_a_kill_and_compete_without_doubles(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    settings: Settings,
    worker_env: dict[str, str],
    spawn: list[subprocess.Popen[bytes]],
) -> None:
    await many_incidents(client, world, sessionmaker, settings, count=10)
    ids = await due_ids(sessionmaker, world)
    # A worker starts mid-wave (offers pending, nothing due yet) and is killed outright.
    start_worker(worker_env, spawn)
    await asyncio.sleep(1.5)
    spawn[0].send_signal(signal.SIGKILL)
    spawn[0].wait(timeout=10)
    assert await unfired(sessionmaker, world, ids) == 60  # nothing was due, nothing fired
    # The deadlines fall due while no worker runs; two new workers start together.
    await make_due(sessionmaker, world)
    start_worker(worker_env, spawn)
    start_worker(worker_env, spawn)
    await wait_until_fired(sessionmaker, world, ids)
    counts = await expired_events(sessionmaker, world)
    assert len(counts) == 30 and set(counts.values()) == {1}
    for proc in spawn[1:]:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0  # a clean stop on SIGTERM
