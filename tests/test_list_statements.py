"""Each list endpoint runs the same number of SQL statements whatever the list's
length (issue 13: a list is loaded in one statement, names joined, never per row)."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.settings import Settings
from core.uow import unit_of_work
from tests.dispatch_helpers import Scene, add_responder
from tests.factories import World, add_elder, bearer

Maker = async_sessionmaker[AsyncSession]


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


async def count(client: httpx.AsyncClient, engine: AsyncEngine, url: str, who: dict[str, str]):
    with statements_on(engine) as seen:
        response = await client.get(url, headers=who)
    assert response.status_code == 200, response.text
    return len(response.json()), len(seen)


async def grow(client: httpx.AsyncClient, sessionmaker: Maker, world: World, elders: int) -> None:
    """``elders`` more elders press SOS in the North zone: each an open incident offered
    to the world's caregiver."""
    for _ in range(elders):
        async with unit_of_work(sessionmaker) as session:
            _, _, token = await add_elder(session, world.org_id)
        pressed = await client.post("/v1/sos", json={}, headers=bearer(token))
        assert pressed.status_code == 201, pressed.text


async def test_list_endpoints_run_a_constant_number_of_statements(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    sessionmaker: Maker,
    settings: Settings,
    world: World,
) -> None:
    scene = Scene(world)
    lists = {
        "incidents": (f"/v1/orgs/{world.org_id}/incidents", world.officer),
        "my offers": ("/v1/responders/me/offers", world.responder),
        "responders": (f"/v1/orgs/{world.org_id}/responders", world.officer),
    }
    await grow(client, sessionmaker, world, 2)
    small = {name: await count(client, engine, *where) for name, where in lists.items()}
    await grow(client, sessionmaker, world, 8)
    for n in range(8):
        await add_responder(
            sessionmaker, settings, scene, f"r{n}", metres_north=5_000, zone_names=("North",)
        )
    large = {name: await count(client, engine, *where) for name, where in lists.items()}
    for name in lists:
        (rows_small, statements_small), (rows_large, statements_large) = small[name], large[name]
        assert rows_large >= rows_small + 8, name
        assert statements_large == statements_small, (name, small[name], large[name])
