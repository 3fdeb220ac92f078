"""Rate limits: 429 + Retry-After, never for an SOS that opens an incident or a retry."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from geoalchemy2.shape import to_shape
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from core.settings import Settings
from dispatch.models import Responder
from tests.dispatch_helpers import Scene, add_responder, event_names
from tests.factories import World
from tests.helpers import assert_problem, db_fingerprint


async def send_sos(
    client: httpx.AsyncClient, world: World, key: str, **body: object
) -> httpx.Response:
    return await client.post(
        "/v1/sos",
        json={"trigger": "button", **body},
        headers={**world.elder, "Idempotency-Key": key},
    )


def retry_after(response: httpx.Response) -> int:
    return int(response.headers["Retry-After"])


async def test_sos_presses_that_join_are_limited_but_a_first_sos_and_retries_never_are(
    client: httpx.AsyncClient,
    world: World,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    first_key = str(uuid.uuid4())
    opened = await send_sos(client, world, first_key)
    assert opened.status_code == 201, opened.text
    incident_id = opened.json()["incident_id"]
    # The opening press counts: the bucket holds sos_presses_per_min presses in all.
    for _ in range(settings.sos_presses_per_min - 1):
        joined = await send_sos(client, world, str(uuid.uuid4()), trigger="fall")
        assert joined.status_code == 200 and joined.json()["incident_id"] == incident_id

    before = await db_fingerprint(sessionmaker)
    limited = await send_sos(client, world, str(uuid.uuid4()), lat=16.9, lon=103.3)
    body = assert_problem(limited, 429, detail="already being sent")
    assert body["incident_id"] == incident_id
    assert 1 <= retry_after(limited) <= 60 / settings.sos_presses_per_min
    assert await db_fingerprint(sessionmaker) == before  # the refused press changed nothing

    # A weak signal lost the first answer: its retry is a replay, never limited.
    replay = await send_sos(client, world, first_key)
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"

    cancelled = await client.post(
        f"/v1/incidents/{incident_id}/cancel",
        json={"reason": "pressed by mistake"},
        headers=world.elder,
    )
    assert cancelled.status_code == 200, cancelled.text
    # The bucket is still empty, but a new emergency opens a new incident.
    again = await send_sos(client, world, str(uuid.uuid4()))
    assert again.status_code == 201 and again.json()["incident_id"] != incident_id
    names = await event_names(sessionmaker, incident_id)
    assert names.count("incident.joined") == settings.sos_presses_per_min - 1


async def test_location_updates_are_limited_and_the_bucket_refills(
    client: httpx.AsyncClient,
    world: World,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    path = "/v1/responders/me/location"
    for i in range(settings.locations_per_min):
        fix = {"lat": 16.886 + i * 1e-5, "lon": 103.256, "accuracy_m": 5}
        assert (await client.post(path, json=fix, headers=world.responder)).status_code == 204
    refused = await client.post(path, json={"lat": 17.5, "lon": 104.0}, headers=world.responder)
    assert_problem(refused, 429, detail="location updates")
    wait = retry_after(refused)
    assert 1 <= wait <= 60 / settings.locations_per_min + 1
    async with sessionmaker() as session:
        responder = await session.get(Responder, world.responder_id)
        assert responder is not None and responder.last_location is not None
        assert to_shape(responder.last_location).y < 17  # the refused fix was not stored

    await asyncio.sleep(wait)
    later = await client.post(path, json={"lat": 16.887, "lon": 103.256}, headers=world.responder)
    assert later.status_code == 204, later.text


async def test_limits_are_per_caller(
    client: httpx.AsyncClient,
    world: World,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    scene = Scene(world)
    await add_responder(sessionmaker, settings, scene, "other", metres_north=500)
    path = "/v1/responders/me/location"
    fix = {"lat": 16.886, "lon": 103.256}
    for _ in range(settings.locations_per_min):
        await client.post(path, json=fix, headers=world.responder)
    assert_problem(await client.post(path, json=fix, headers=world.responder), 429)
    assert (await client.post(path, json=fix, headers=scene.headers["other"])).status_code == 204


async def test_accept_and_decline_spam_is_limited(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    opened = await send_sos(client, world, str(uuid.uuid4()))
    incident_id = opened.json()["incident_id"]
    path = f"/v1/incidents/{incident_id}/decline"
    statuses = [
        (await client.post(path, headers=world.responder)).status_code
        for _ in range(settings.offer_actions_per_min)
    ]
    assert set(statuses) == {204}  # a repeated tap on decline is harmless
    limited = await client.post(f"/v1/incidents/{incident_id}/accept", headers=world.responder)
    assert_problem(limited, 429, detail="accepts and declines")
    assert retry_after(limited) >= 1


@pytest.fixture
async def second_process(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """Another API instance with its own engine and pool: a second server process."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://two.test") as c:
            yield c


async def test_the_limit_is_shared_by_every_api_process(
    client: httpx.AsyncClient, second_process: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    path = "/v1/responders/me/location"
    fix = {"lat": 16.886, "lon": 103.256}
    for i in range(settings.locations_per_min):
        via = client if i % 2 else second_process
        assert (await via.post(path, json=fix, headers=world.responder)).status_code == 204
    assert_problem(await client.post(path, json=fix, headers=world.responder), 429)
    assert_problem(await second_process.post(path, json=fix, headers=world.responder), 429)
