"""Deadlocks and serialization failures run the unit of work again, a bounded number of
times: in_transaction for workers and sockets, RetryMiddleware for HTTP requests."""

import asyncio
import json
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import Receive, Scope, Send

from api.problems import install_problem_handlers
from api.retry import RetryMiddleware
from core.uow import MAX_ATTEMPTS, in_transaction, retries_taken, retryable_sqlstate

Maker = async_sessionmaker[AsyncSession]


class FakePgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def db_error(sqlstate: str) -> OperationalError:
    return OperationalError("UPDATE ...", {}, FakePgError(sqlstate))


def test_only_deadlocks_and_serialization_failures_are_retryable() -> None:
    assert retryable_sqlstate(db_error("40P01")) == "40P01"
    assert retryable_sqlstate(db_error("40001")) == "40001"
    assert retryable_sqlstate(db_error("23505")) is None  # a unique violation stays one
    assert retryable_sqlstate(ValueError("no")) is None
    wrapped = RuntimeError("while committing")
    wrapped.__cause__ = db_error("40P01")
    assert retryable_sqlstate(wrapped) == "40P01"


@pytest.fixture
async def two_rows(sessionmaker: Maker) -> None:
    async with sessionmaker() as session:
        await session.execute(
            text("CREATE TABLE IF NOT EXISTS retry_probe (id int PRIMARY KEY, n int NOT NULL)")
        )
        await session.execute(
            text(
                "INSERT INTO retry_probe VALUES (1, 0), (2, 0) ON CONFLICT (id) DO UPDATE SET n = 0"
            )
        )
        await session.commit()


async def test_a_real_deadlock_is_retried_and_both_transactions_commit(
    sessionmaker: Maker, two_rows: None
) -> None:
    """Two transactions lock two rows crosswise: PostgreSQL aborts one (40P01), and
    in_transaction runs it again, so both increments land exactly once."""
    both_hold_one = asyncio.Barrier(2)
    first_attempts = 0

    def crosswise(first: int, second: int) -> Any:
        async def work(session: AsyncSession) -> None:
            nonlocal first_attempts
            first_attempts += 1
            await session.execute(
                text("UPDATE retry_probe SET n = n + 1 WHERE id = :id"), {"id": first}
            )
            if first_attempts <= 2:  # only the first attempt of each meets the other
                await both_hold_one.wait()
            await session.execute(
                text("UPDATE retry_probe SET n = n + 1 WHERE id = :id"), {"id": second}
            )

        return work

    before = retries_taken["40P01"]
    async with asyncio.timeout(30):
        await asyncio.gather(
            in_transaction(sessionmaker, crosswise(1, 2), what="a then b"),
            in_transaction(sessionmaker, crosswise(2, 1), what="b then a"),
        )
    async with sessionmaker() as session:
        rows = await session.execute(text("SELECT id, n FROM retry_probe"))
        counts: dict[int, int] = {row.id: row.n for row in rows}
    assert counts == {1: 2, 2: 2}
    assert retries_taken["40P01"] == before + 1


async def test_retries_are_bounded(sessionmaker: Maker) -> None:
    calls = 0

    async def always_deadlocks(session: AsyncSession) -> None:
        nonlocal calls
        calls += 1
        raise db_error("40P01")

    with pytest.raises(OperationalError):
        await in_transaction(sessionmaker, always_deadlocks)
    assert calls == MAX_ATTEMPTS


def _app_failing(times: int, seen_bodies: list[bytes]) -> Any:
    """A bare ASGI app that reads the whole body, then fails ``times`` times with 40P01."""
    calls = 0

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal calls
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen_bodies.append(body)
        calls += 1
        if calls <= times:
            raise db_error("40P01")
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app


async def test_the_middleware_runs_a_deadlocked_request_again_with_the_same_body() -> None:
    bodies: list[bytes] = []
    app = RetryMiddleware(_app_failing(2, bodies))
    payload = json.dumps({"trigger": "button", "lat": 16.88}).encode()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    ) as client:
        response = await client.post("/v1/sos", content=payload)
    assert response.status_code == 201
    assert response.content == payload
    assert bodies == [payload] * 3


async def test_a_request_that_deadlocks_every_time_gets_503_with_retry_after() -> None:
    from fastapi import FastAPI

    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(RetryMiddleware)

    @app.post("/always")
    async def always() -> None:
        raise db_error("40001")

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    ) as client:
        response = await client.post("/always", json={})
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    assert "nothing was stored" in response.json()["detail"]
