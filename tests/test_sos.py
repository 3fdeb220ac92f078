"""POST /v1/sos: one incident per emergency, however the phone retries."""

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from geoalchemy2.shape import to_shape
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.events.models import IncidentEvent
from core.settings import Settings
from core.uow import unit_of_work
from dispatch.models import Elder, Incident, SosRequest
from tests.dispatch_helpers import events as events_of
from tests.factories import World, add_elder, bearer
from tests.helpers import assert_problem, db_fingerprint


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def incidents_of(
    sessionmaker: async_sessionmaker[AsyncSession], elder_id: uuid.UUID
) -> list[Incident]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(Incident).where(Incident.elder_id == elder_id)))


async def test_gps_sos_opens_an_incident_in_the_covering_zone(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    body = {
        "lat": 16.8852,
        "lon": 103.2551,
        "accuracy_m": 12,
        "trigger": "fall",
        "battery_pct": 23,
        "captured_at": (datetime.now(UTC) - timedelta(seconds=20)).isoformat(),
    }
    response = await client.post("/v1/sos", json=body, headers={**world.elder, **key()})
    assert response.status_code == 201, response.text
    sos = response.json()
    assert sos["state"] == "dispatching"
    assert sos["location_source"] == "gps"
    assert sos["zone"] == {"id": str(world.zone_ids["North"]), "name": "North"}
    assert sos["fallback_phone"] == "1669"
    assert sos["created_at"].endswith("Z")
    assert "ได้รับสัญญาณ" in sos["message"]  # Thai by default

    (incident,) = await incidents_of(sessionmaker, world.elder_id)
    point = to_shape(incident.location)
    assert (point.y, point.x) == (16.8852, 103.2551)
    assert incident.accuracy_m == 12 and incident.battery_pct == 23
    assert incident.trigger == "fall" and incident.escalation_level == 0
    events = await events_of(sessionmaker, sos["incident_id"])
    assert [e.name for e in events] == ["incident.opened", "offer.sent"]
    assert events[0].data["zone"]["name"] == "North"


async def test_sos_without_coordinates_uses_the_home_location(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    response = await client.post(
        "/v1/sos", json={"trigger": "button"}, headers={**world.elder, **key()}
    )
    assert response.status_code == 201
    assert response.json()["location_source"] == "home"
    assert response.json()["zone"]["name"] == "North"
    (incident,) = await incidents_of(sessionmaker, world.elder_id)
    assert (to_shape(incident.location).y, to_shape(incident.location).x) == (16.885, 103.255)
    assert incident.accuracy_m is None


async def test_a_retry_with_the_same_key_replays_the_same_incident(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    headers = {**world.elder, **key()}
    body = {"lat": 16.886, "lon": 103.256, "trigger": "button"}
    first = await client.post("/v1/sos", json=body, headers=headers)
    # Same meaning, other formatting: still the same request.
    retry = await client.post(
        "/v1/sos",
        content=json.dumps(body, indent=2),
        headers={**headers, "Content-Type": "application/json"},
    )
    assert first.status_code == 201
    assert retry.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert len(await incidents_of(sessionmaker, world.elder_id)) == 1
    assert len(await events_of(sessionmaker, first.json()["incident_id"])) == 2


async def test_the_same_key_with_another_body_is_a_conflict_and_changes_nothing(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    headers = {**world.elder, **key()}
    assert (
        await client.post("/v1/sos", json={"trigger": "button"}, headers=headers)
    ).status_code == 201
    before = await db_fingerprint(sessionmaker)
    conflict = await client.post("/v1/sos", json={"trigger": "fall"}, headers=headers)
    assert_problem(conflict, 409, detail="Idempotency-Key")
    assert await db_fingerprint(sessionmaker) == before


async def test_a_second_press_joins_the_active_incident_and_improves_the_fix(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    first = await client.post(
        "/v1/sos", json={"trigger": "button"}, headers={**world.elder, **key()}
    )
    better = {"lat": 16.8861, "lon": 103.2561, "accuracy_m": 9, "trigger": "button"}
    second = await client.post("/v1/sos", json=better, headers={**world.elder, **key()})
    assert first.status_code == 201 and second.status_code == 200
    assert "Idempotent-Replayed" not in second.headers
    assert second.json()["incident_id"] == first.json()["incident_id"]
    assert second.json()["location_source"] == "gps"
    assert "ความช่วยเหลือกำลังดำเนินการ" in second.json()["message"]
    (incident,) = await incidents_of(sessionmaker, world.elder_id)
    assert to_shape(incident.location).y == 16.8861 and incident.accuracy_m == 9
    events = await events_of(sessionmaker, first.json()["incident_id"])
    assert [e.name for e in events] == ["incident.opened", "offer.sent", "incident.joined"]
    assert events[2].data["location_updated"] is True

    worse = {"lat": 16.8, "lon": 103.2, "accuracy_m": 500, "trigger": "button"}
    await client.post("/v1/sos", json=worse, headers={**world.elder, **key()})
    (incident,) = await incidents_of(sessionmaker, world.elder_id)
    assert incident.accuracy_m == 9  # a worse fix does not replace a better one


async def test_after_the_incident_closes_a_new_sos_opens_a_new_one(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    first = await client.post(
        "/v1/sos", json={"trigger": "button"}, headers={**world.elder, **key()}
    )
    async with unit_of_work(sessionmaker) as session:
        await session.execute(
            update(Incident).where(Incident.elder_id == world.elder_id).values(state="resolved")
        )
    second = await client.post(
        "/v1/sos", json={"trigger": "button"}, headers={**world.elder, **key()}
    )
    assert second.status_code == 201
    assert second.json()["incident_id"] != first.json()["incident_id"]


async def test_outside_every_zone_the_incident_opens_and_goes_to_the_officers(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    body = {"lat": 13.7563, "lon": 100.5018, "accuracy_m": 30, "trigger": "button"}  # Bangkok
    response = await client.post("/v1/sos", json=body, headers={**world.elder, **key()})
    assert response.status_code == 201
    assert response.json()["zone"] is None
    assert "1669" in response.json()["message"]
    (incident,) = await incidents_of(sessionmaker, world.elder_id)
    assert incident.zone_id is None and incident.escalation_level == 1
    events = await events_of(sessionmaker, response.json()["incident_id"])
    assert [e.name for e in events] == ["incident.opened", "incident.escalated"]
    assert events[1].data == {"level": 1, "reason": "outside_zones", "to": "officers"}


async def test_a_weak_fix_near_a_zone_still_finds_it(
    client: httpx.AsyncClient, world: World
) -> None:
    # 55 m north of North's edge, with a 100 m accuracy circle.
    body = {"lat": 16.8905, "lon": 103.255, "accuracy_m": 100, "trigger": "button"}
    response = await client.post("/v1/sos", json=body, headers={**world.elder, **key()})
    assert response.json()["zone"]["name"] == "North"


async def test_unknown_fields_from_a_newer_app_do_not_refuse_an_sos(
    client: httpx.AsyncClient, world: World
) -> None:
    body = {"trigger": "button", "heart_rate": 130, "app_version": "9.9"}
    response = await client.post("/v1/sos", json=body, headers={**world.elder, **key()})
    assert response.status_code == 201, response.text


async def test_english_speaking_elder_gets_english_text(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with unit_of_work(sessionmaker) as session:
        await session.execute(update(Elder).where(Elder.id == world.elder_id).values(language="en"))
    response = await client.post("/v1/sos", json={}, headers={**world.elder, **key()})
    assert response.json()["message"].startswith("Your SOS was received")


async def test_twenty_concurrent_identical_requests_make_exactly_one_incident(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    headers = {**world.elder, **key()}
    body = {"lat": 16.8853, "lon": 103.2552, "accuracy_m": 15, "trigger": "button"}
    responses = await asyncio.gather(
        *(client.post("/v1/sos", json=body, headers=headers) for _ in range(20))
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 200: 19}, [r.text for r in responses if r.status_code >= 300]
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 19
    assert len({r.json()["incident_id"] for r in responses}) == 1
    assert len(await incidents_of(sessionmaker, world.elder_id)) == 1
    async with sessionmaker() as session:
        keys = await session.scalar(
            select(func.count())
            .select_from(SosRequest)
            .where(SosRequest.elder_id == world.elder_id)
        )
    assert keys == 1
    events = await events_of(sessionmaker, responses[0].json()["incident_id"])
    assert [e.name for e in events] == ["incident.opened", "offer.sent"]


async def test_twenty_concurrent_presses_with_different_keys_share_one_incident(
    client: httpx.AsyncClient,
    world: World,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    responses = await asyncio.gather(
        *(
            client.post("/v1/sos", json={"trigger": "button"}, headers={**world.elder, **key()})
            for _ in range(20)
        )
    )
    # One opens, the next presses join up to the per-device limit, the rest are 429s
    # that name the same incident.
    joins = settings.sos_presses_per_min - 1
    assert Counter(r.status_code for r in responses) == {201: 1, 200: joins, 429: 19 - joins}
    assert len({r.json()["incident_id"] for r in responses}) == 1
    events = await events_of(sessionmaker, responses[0].json()["incident_id"])
    assert Counter(e.name for e in events) == {
        "incident.opened": 1,
        "offer.sent": 1,
        "incident.joined": joins,
    }


async def test_event_ids_grow_per_organization(
    client: httpx.AsyncClient,
    world: World,
    other_world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with unit_of_work(sessionmaker) as session:
        extra = [await add_elder(session, world.org_id, name=f"Elder {i}") for i in range(3)]
    for _, _, token in extra:
        await client.post("/v1/sos", json={}, headers={**bearer(token), **key()})
    await client.post("/v1/sos", json={}, headers={**other_world.elder, **key()})
    async with sessionmaker() as session:
        mine = list(
            await session.scalars(
                select(IncidentEvent.id)
                .where(IncidentEvent.organization_id == world.org_id)
                .order_by(IncidentEvent.created_at)
            )
        )
        theirs = list(
            await session.scalars(
                select(IncidentEvent.id).where(IncidentEvent.organization_id == other_world.org_id)
            )
        )
    # opened + offer.sent per incident, numbered 1, 2, 3... within each organization
    assert mine == [1, 2, 3, 4, 5, 6]
    assert theirs == [1, 2]


def _chunks(total: int) -> AsyncIterator[bytes]:
    async def gen() -> AsyncIterator[bytes]:
        sent = 0
        while sent < total:
            yield b" " * 65536
            sent += 65536

    return gen()


NOT_AN_SOS = [
    ("[]", "body"),
    ('{"lat": 16.8, "lon": 103', "JSON"),
    ('"SOS"', "body"),
    ("null", "body"),
]


@pytest.mark.parametrize(("raw", "detail"), NOT_AN_SOS)
async def test_a_body_that_is_not_a_json_object_is_refused_and_changes_nothing(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    raw: str,
    detail: str,
) -> None:
    before = await db_fingerprint(sessionmaker)
    response = await client.post(
        "/v1/sos",
        content=raw,
        headers={**world.elder, **key(), "Content-Type": "application/json"},
    )
    body = assert_problem(response, 422)
    assert detail.lower() in json.dumps(body, ensure_ascii=False).lower(), body
    assert await db_fingerprint(sessionmaker) == before


# Each body has one or more unusable optional fields; the SOS opens all the same.
BROKEN_BUT_AN_SOS = [
    ('{"lat": 91, "lon": 103}', {"lat,lon"}, "home"),
    ('{"lat": -90.5, "lon": 103}', {"lat,lon"}, "home"),
    ('{"lat": 16.8, "lon": 181}', {"lat,lon"}, "home"),
    ('{"lat": NaN, "lon": 103}', {"lat,lon"}, "home"),
    ('{"lat": Infinity, "lon": 103}', {"lat,lon"}, "home"),
    ('{"lat": "16.8N", "lon": 103}', {"lat,lon"}, "home"),
    ('{"lat": 16.8}', {"lat,lon"}, "home"),
    ('{"trigger": "prayer"}', {"trigger"}, "home"),
    ('{"trigger": "staff"}', {"trigger"}, "home"),
    # Raised by the server from the phone's positions (dispatch/wander), never sent.
    ('{"trigger": "wander"}', {"trigger"}, "home"),
    ('{"trigger": ["fall"]}', {"trigger"}, "home"),
    ('{"battery_pct": 101}', {"battery_pct"}, "home"),
    ('{"accuracy_m": -1, "lat": 16.885, "lon": 103.255}', {"accuracy_m"}, "gps"),
    ('{"captured_at": "2999-01-01T00:00:00Z"}', {"captured_at"}, "home"),
    ('{"captured_at": "yesterday"}', {"captured_at"}, "home"),
    ('{"captured_at": "0001-01-01T00:00:00+07:00"}', {"captured_at"}, "home"),
    ('{"captured_at": "1970-01-01T00:00:00Z"}', {"captured_at"}, "home"),
    (
        '{"trigger": "button", "lat": 16.88, "lon": 103.26,'
        ' "captured_at": "0001-01-01T00:00:00+07:00"}',
        {"captured_at"},
        "gps",
    ),
    (
        '{"trigger": 7, "lat": 16.885, "lon": 103.255, "accuracy_m": "far",'
        ' "captured_at": 12, "battery_pct": -3}',
        {"trigger", "accuracy_m", "captured_at", "battery_pct"},
        "gps",
    ),
]


@pytest.mark.parametrize(("raw", "fields", "source"), BROKEN_BUT_AN_SOS)
async def test_a_broken_optional_field_never_costs_an_sos(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    raw: str,
    fields: set[str],
    source: str,
) -> None:
    """Dropped and recorded, never refused: the elder's press opens the incident, and the
    phone's retry of the same body replays it."""
    headers = {**world.elder, **key(), "Content-Type": "application/json"}
    response = await client.post("/v1/sos", content=raw, headers=headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert {i["field"] for i in body["ignored"]} == fields
    assert body["location_source"] == source
    again = await client.post("/v1/sos", content=raw, headers=headers)
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["incident_id"] == body["incident_id"]
    opened = (await events_of(sessionmaker, body["incident_id"]))[0]
    assert opened.name == "incident.opened"
    assert {i["field"] for i in opened.data["ignored"]} == fields


async def test_an_unusable_idempotency_key_is_ignored_not_refused(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.post(
        "/v1/sos", json={}, headers={**world.elder, "Idempotency-Key": "k" * 300}
    )
    assert response.status_code == 201, response.text
    assert [i["field"] for i in response.json()["ignored"]] == ["Idempotency-Key"]


async def test_oversized_and_unauthorised_sos_change_nothing(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    before = await db_fingerprint(sessionmaker)
    huge = b'{"trigger": "button", "pad": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    headers = {**world.elder, **key(), "Content-Type": "application/json"}
    assert_problem(await client.post("/v1/sos", content=huge, headers=headers), 413)
    streamed = await client.post("/v1/sos", content=_chunks(5 * 1024 * 1024), headers=headers)
    assert_problem(streamed, 413)
    assert_problem(await client.post("/v1/sos", json={}, headers=key()), 401)
    assert_problem(await client.post("/v1/sos", json={}, headers={**world.officer, **key()}), 403)
    assert_problem(await client.post("/v1/sos", json={}, headers={**world.responder, **key()}), 403)
    forged = world.elder["Authorization"][:-4] + "AAAA"
    assert_problem(
        await client.post("/v1/sos", json={}, headers={"Authorization": forged, **key()}), 401
    )
    assert await db_fingerprint(sessionmaker) == before
