"""Logins under load (issue 11, finding 4): a flood of wrong passwords for one
account must not take the connection pool from SOS, parallel guesses must not
outrun the lockout, and Argon2 must never run on the event loop."""

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from api.app import create_app
from core.db import create_sessionmaker
from core.errors import TooManyRequests
from core.security import Argon2Lane
from core.settings import Settings
from core.tenancy.models import User
from tests.factories import PASSWORD, World
from tests.loop_lag import loop_lag

SMALL_POOL = 5
POOL_TIMEOUT_S = 5
GUESSES = 40
SOS_WITHIN_S = 2.5
LOOP_LAG_BOUND_S = 0.1
LOCK_AFTER_FAILURES = 5  # docs/decisions.md, "Login lockout"


def sos_body() -> dict[str, object]:
    return {"lat": 16.8852, "lon": 103.2551, "accuracy_m": 12, "trigger": "button"}


@pytest.fixture
async def small_app(settings: Settings, database_url: str) -> AsyncIterator[FastAPI]:
    """The app on a pool of five connections that gives up waiting after 5 s."""
    application = create_app(
        settings.model_copy(update={"db_pool_size": SMALL_POOL, "db_max_overflow": 0})
    )
    engine = create_async_engine(
        database_url,
        pool_size=SMALL_POOL,
        max_overflow=0,
        pool_timeout=POOL_TIMEOUT_S,
        connect_args={"options": "-c timezone=UTC"},
    )
    async with application.router.lifespan_context(application):
        application.state.engine = engine
        application.state.sessionmaker = create_sessionmaker(engine)
        try:
            yield application
        finally:
            await engine.dispose()


@pytest.fixture
async def small_client(small_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=small_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://phikat.test") as c:
        yield c


def officer_email(world: World) -> str:
    return f"officer@{world.org_code}.example.org"


async def test_a_flood_of_wrong_passwords_leaves_the_pool_to_sos(
    small_client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async def guess(i: int) -> int:
        response = await small_client.post(
            "/v1/auth/token", data={"username": officer_email(world), "password": f"guess-{i}"}
        )
        return response.status_code

    async def press_sos() -> tuple[httpx.Response, float]:
        await asyncio.sleep(0.05)  # the guesses hold or wait for the connections by now
        started = time.perf_counter()
        response = await small_client.post(
            "/v1/sos",
            json=sos_body(),
            headers={**world.elder, "Idempotency-Key": str(uuid.uuid4())},
        )
        return response, time.perf_counter() - started

    async with asyncio.timeout(120):
        sos_task = asyncio.create_task(press_sos())
        statuses = Counter(await asyncio.gather(*(guess(i) for i in range(GUESSES))))
        sos, sos_s = await sos_task

    assert set(statuses) <= {401, 429}, statuses  # no 500: nobody waited for a second connection
    assert sos.status_code == 201, sos.text
    assert sos_s < SOS_WITHIN_S, f"the SOS took {sos_s:.2f} s behind {GUESSES} wrong passwords"
    # Parallel guesses cannot outrun the lockout: only the attempts counted before the
    # account locked had their password checked at all.
    assert statuses[401] <= LOCK_AFTER_FAILURES, statuses
    async with sessionmaker() as session:
        user = await session.scalar(select(User).where(User.email == officer_email(world)))
    assert user is not None
    assert user.failed_logins >= LOCK_AFTER_FAILURES and user.locked_until is not None


async def test_argon2_never_runs_on_the_event_loop(client: httpx.AsyncClient, world: World) -> None:
    async def log_in(email: str, password: str) -> int:
        response = await client.post(
            "/v1/auth/token", data={"username": email, "password": password}
        )
        return response.status_code

    async def add_officer() -> int:
        response = await client.post(
            f"/v1/orgs/{world.org_id}/officers",
            json={
                "name": "Second officer",
                "email": f"second-{uuid.uuid4().hex[:8]}@{world.org_code}.example.org",
                "password": PASSWORD,
            },
            headers=world.officer,
        )
        return response.status_code

    async with asyncio.timeout(120), loop_lag() as lag:
        statuses = await asyncio.gather(
            *(log_in(f"nobody-{i}@example.org", "not-a-password") for i in range(6)),
            log_in(officer_email(world), PASSWORD),
            log_in(world.responder_email, PASSWORD),
            add_officer(),
        )
    assert statuses == [401] * 6 + [200, 200, 201]
    assert lag.ticks > 0
    assert lag.worst_s < LOOP_LAG_BOUND_S, f"the event loop was blocked {lag.worst_s:.3f} s"


def test_logins_beyond_the_lanes_bound_are_refused_at_once() -> None:
    lane = Argon2Lane(workers=1, max_logins=2)
    with lane.admit(), lane.admit():
        with pytest.raises(TooManyRequests) as refused, lane.admit():
            pass  # pragma: no cover
        assert refused.value.retry_after_s == 1
    assert lane.logins == 0
    with lane.admit():
        assert lane.logins == 1
