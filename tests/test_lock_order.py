"""The lock order (core.uow) breaks the cycles that turned concurrent commands into 500s.

Each test forces the interleaving that deadlocked: a third connection (the gate)
holds a lock that one command needs late in its transaction; a second command
is started while the first waits at the gate; then the gate opens. With the
old locks PostgreSQL aborted one of the two (40P01) and the client got a 500;
with the lock order both succeed, and no retry is needed.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import core.uow as uow
from core.settings import Settings
from core.uow import unit_of_work
from dispatch.enums import OfferState
from dispatch.models import Offer
from tests.dispatch_helpers import Scene, add_responder, event_names, offers, sos
from tests.factories import World, add_elder, bearer

Maker = async_sessionmaker[AsyncSession]

ROUNDS = 3


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def gate(database_url: str, sql: str, params: tuple[Any, ...]) -> AsyncIterator[None]:
    """Hold the row locks ``sql`` takes until the block ends."""
    async with await psycopg.AsyncConnection.connect(_conninfo(database_url)) as conn:
        await conn.execute(sql, params)
        yield
        await conn.commit()


async def lock_waiters(database_url: str) -> int:
    async with await psycopg.AsyncConnection.connect(
        _conninfo(database_url), autocommit=True
    ) as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        row = await cur.fetchone()
        return int(row[0]) if row else 0


async def until_blocked(
    database_url: str, waiters: int, *tasks: "asyncio.Task[httpx.Response]"
) -> None:
    """Wait until ``waiters`` backends wait on a lock, or one of ``tasks`` ended."""
    async with asyncio.timeout(10):
        while True:
            if any(t.done() for t in tasks) or await lock_waiters(database_url) >= waiters:
                return
            await asyncio.sleep(0.02)


def start(call: Awaitable[httpx.Response]) -> "asyncio.Task[httpx.Response]":
    return asyncio.ensure_future(call)


COUNTER = "SELECT 1 FROM event_sequence WHERE organization_id = %s FOR UPDATE"
BUCKET = (
    "INSERT INTO rate_limit (key, tat) VALUES (%s, now()) "
    "ON CONFLICT (key) DO UPDATE SET tat = rate_limit.tat"
)


async def meet(
    database_url: str,
    held: tuple[str, tuple[Any, ...]],
    first: Awaitable[httpx.Response],
    second: Awaitable[httpx.Response],
) -> list[httpx.Response]:
    """``first`` runs until it waits at the gate (the lock ``held`` takes), ``second``
    starts meanwhile and runs until it waits too (or ends); then the gate opens."""
    async with gate(database_url, *held):
        one = start(first)
        await until_blocked(database_url, 1, one)
        two = start(second)
        await until_blocked(database_url, 2, one, two)
    return list(await asyncio.gather(one, two))


def retries() -> int:
    return sum(getattr(uow, "retries_taken", {}).values())


@pytest.fixture
async def scene(world: World, sessionmaker: Maker, settings: Settings) -> Scene:
    s = Scene(world)
    await add_responder(sessionmaker, settings, s, "near", metres_north=100)
    await add_responder(sessionmaker, settings, s, "mid", metres_north=600)
    return s


async def _incident_offered_to(
    client: httpx.AsyncClient, scene: Scene, sessionmaker: Maker
) -> tuple[str, dict[str, str]]:
    """A new incident offered to "near" and "mid"; their offer ids by name."""
    incident = await sos(client, scene.world)
    rows = await offers(sessionmaker, incident)
    by_responder = {o.responder_id: o for o in rows}
    near, mid = scene.responders["near"], scene.responders["mid"]
    assert near in by_responder and mid in by_responder
    return incident, {"near": str(by_responder[near].id), "mid": str(by_responder[mid].id)}


async def _close(client: httpx.AsyncClient, world: World, incident: str) -> None:
    response = await client.post(
        f"/v1/incidents/{incident}/cancel", json={"reason": "test over"}, headers=world.officer
    )
    assert response.status_code == 200, response.text


async def test_a_location_post_and_an_accept_do_not_deadlock_on_the_event_counter(
    client: httpx.AsyncClient, scene: Scene, sessionmaker: Maker, database_url: str
) -> None:
    """Cycle 1: the location post waited for the org's event counter, then (its event's
    foreign key) for the incident; the accept held the incident and waited for the
    counter."""
    world = scene.world
    before = retries()
    for _ in range(ROUNDS):
        incident, _ = await _incident_offered_to(client, scene, sessionmaker)
        answers = await meet(
            database_url,
            (COUNTER, (world.org_id,)),
            client.post(
                f"/v1/incidents/{incident}/locations",
                json={"lat": 16.8851, "lon": 103.2551, "accuracy_m": 8},
                headers=world.elder,
            ),
            client.post(f"/v1/incidents/{incident}/accept", headers=scene.headers["near"]),
        )
        assert [a.status_code for a in answers] == [204, 200], [a.text for a in answers]
        await _close(client, world, incident)
    assert retries() == before, "the lock order, not a retry, must prevent the cycle"


async def test_a_joining_sos_and_an_accept_do_not_deadlock_on_the_elder(
    client: httpx.AsyncClient, scene: Scene, sessionmaker: Maker, database_url: str
) -> None:
    """Cycle 2: the SOS held the elder FOR UPDATE and then needed the incident; the accept
    held the incident and inserted a message to the elder (a foreign key to the elder)."""
    world = scene.world
    before = retries()
    for _ in range(ROUNDS):
        incident, _ = await _incident_offered_to(client, scene, sessionmaker)
        # The SOS rate-limit bucket of this device, taken by a joining press.
        answers = await meet(
            database_url,
            (BUCKET, (f"sos:{world.elder_token_id}",)),
            client.post(
                "/v1/sos",
                json={"trigger": "button", "lat": 16.8851, "lon": 103.2551, "accuracy_m": 5},
                headers={**world.elder, "Idempotency-Key": str(uuid.uuid4())},
            ),
            client.post(f"/v1/incidents/{incident}/accept", headers=scene.headers["near"]),
        )
        assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
        assert answers[0].json()["incident_id"] == incident
        await _close(client, world, incident)
    assert retries() == before, "the lock order, not a retry, must prevent the cycle"


async def test_a_receipt_and_an_accept_that_withdraws_its_offer_do_not_deadlock(
    client: httpx.AsyncClient, scene: Scene, sessionmaker: Maker, database_url: str
) -> None:
    """Cycle 3: the receipt locked its offer, then (its event) needed the incident; the
    accept of another responder held the incident and withdrew that offer."""
    world = scene.world
    before = retries()
    for _ in range(ROUNDS):
        incident, offer_ids = await _incident_offered_to(client, scene, sessionmaker)
        answers = await meet(
            database_url,
            (COUNTER, (world.org_id,)),
            client.post(f"/v1/offers/{offer_ids['mid']}/received", headers=scene.headers["mid"]),
            client.post(f"/v1/incidents/{incident}/accept", headers=scene.headers["near"]),
        )
        assert [a.status_code for a in answers] == [204, 200], [a.text for a in answers]
        await _close(client, world, incident)
    assert retries() == before, "the lock order, not a retry, must prevent the cycle"


async def test_a_press_never_joins_an_incident_already_cancelled(
    client: httpx.AsyncClient, scene: Scene, sessionmaker: Maker, database_url: str
) -> None:
    """The press read the active incident, an officer cancelled it and committed, then
    the press joined the cancelled incident and told the elder help was coming: a lost
    SOS. Now the press holds the incident before it decides to join, so it joins before
    the cancel, or finds no active incident and opens a new one."""
    world = scene.world
    for _ in range(ROUNDS):
        incident = await sos(client, world)
        press_answer, cancel_answer = await meet(
            database_url,
            (BUCKET, (f"sos:{world.elder_token_id}",)),
            client.post(
                "/v1/sos",
                json={"trigger": "fall"},
                headers={**world.elder, "Idempotency-Key": str(uuid.uuid4())},
            ),
            client.post(
                f"/v1/incidents/{incident}/cancel",
                json={"reason": "pressed by mistake"},
                headers=world.officer,
            ),
        )
        assert cancel_answer.status_code == 200, cancel_answer.text
        assert press_answer.status_code == 200, press_answer.text
        timeline = await event_names(sessionmaker, incident)
        assert timeline.index("incident.joined") < timeline.index("incident.cancelled"), timeline


async def test_two_responders_removed_at_once_do_not_deadlock_over_shared_incidents(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    database_url: str,
    settings: Settings,
) -> None:
    """Removing a responder locked their incidents in the order the query found their
    offers: two responders offered the same incidents in opposite orders, removed at
    once, locked crosswise. Now both lock in ascending id order."""
    s = Scene(world)
    first = await add_responder(sessionmaker, settings, s, "first", metres_north=100, on_duty=False)
    second = await add_responder(
        sessionmaker, settings, s, "second", metres_north=120, on_duty=False
    )
    incidents = []
    async with unit_of_work(sessionmaker) as session:
        for n in range(6):
            _, _, token = await add_elder(session, world.org_id, name=f"elder {n}")
            incidents.append(token)
    opened = [await sos(client, World(**{**world.__dict__, "elder": bearer(t)})) for t in incidents]
    ids = [uuid.UUID(i) for i in opened]
    async with unit_of_work(sessionmaker) as session:
        # Offers made in opposite orders: "first" finds them 0..5, "second" 5..0.
        for responder, order in ((first, ids), (second, ids[::-1])):
            for incident_id in order:
                session.add(
                    Offer(
                        organization_id=world.org_id,
                        incident_id=incident_id,
                        responder_id=responder,
                        wave=1,
                        state=OfferState.PENDING,
                        expires_at=datetime.now(UTC) + timedelta(minutes=5),
                    )
                )
                await session.flush()
    middle = ids[3]
    before = retries()
    async with gate(database_url, "SELECT 1 FROM incident WHERE id = %s FOR UPDATE", (middle,)):
        removals = [
            start(client.post(f"/v1/users/{r}/disable", headers=world.officer))
            for r in (first, second)
        ]
        await until_blocked(database_url, 2, *removals)
    answers = await asyncio.gather(*removals)
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert retries() == before, "the lock order, not a retry, must prevent the cycle"
