"""Disabling a staff account (issue 11, finding 7c): the organization is checked
before the account's row is locked, so an officer of another organization can
neither hold nor wait for a lock on it."""

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.factories import World
from tests.helpers import assert_problem

REFUSED_WITHIN_S = 2.0


@contextmanager
def statements_on(engine: AsyncEngine) -> Iterator[list[str]]:
    seen: list[str] = []

    def capture(*args: Any) -> None:
        seen.append(str(args[2]))  # (conn, cursor, statement, parameters, context, many)

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)


def account_locks(statements: list[str]) -> list[str]:
    return [s for s in statements if "app_user" in s and " FOR " in s and "UPDATE" in s]


async def test_another_organizations_officer_is_refused_without_a_lock(
    client: httpx.AsyncClient, engine: AsyncEngine, world: World, other_world: World
) -> None:
    path = f"/v1/users/{world.responder_id}/disable"
    with statements_on(engine) as seen:
        refused = await client.post(path, headers=other_world.officer)
    assert_problem(refused, 404, detail="no such user")
    assert account_locks(seen) == []
    # The same answer as for an account that does not exist: nothing to probe.
    unknown = await client.post(f"/v1/users/{uuid.uuid4()}/disable", headers=other_world.officer)
    assert_problem(unknown, 404, detail="no such user")
    assert unknown.json()["detail"] == refused.json()["detail"]

    # While someone else holds the row, the outsider is still refused at once.
    async with engine.connect() as holder:
        await holder.execute(
            text("select 1 from app_user where id = :id for update"), {"id": world.responder_id}
        )
        started = time.perf_counter()
        async with asyncio.timeout(10):
            held = await client.post(path, headers=other_world.officer)
        waited = time.perf_counter() - started
        await holder.rollback()
    assert_problem(held, 404, detail="no such user")
    assert waited < REFUSED_WITHIN_S, f"the refused request waited {waited:.2f} s for the lock"


async def test_the_officer_of_the_organization_locks_the_account_for_no_key_update(
    client: httpx.AsyncClient, engine: AsyncEngine, world: World
) -> None:
    with statements_on(engine) as seen:
        done = await client.post(f"/v1/users/{world.responder_id}/disable", headers=world.officer)
    assert done.status_code == 200, done.text
    locks = account_locks(seen)
    # FOR NO KEY UPDATE: rows referencing the account (tokens, offers) are not held up.
    assert locks and all("FOR NO KEY UPDATE" in s for s in locks), locks
