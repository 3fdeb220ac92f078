"""Responders, elders, device tokens and push devices over HTTP."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notifications.models import PushDevice
from tests.factories import World, bearer
from tests.helpers import assert_problem, db_fingerprint


def responder_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "สมชาย ใจดี",
        "email": f"r-{uuid.uuid4().hex[:8]}@example.org",
        "password": "responder-pw-1",
        "phone": "0812345678",
        "kind": "volunteer",
        "skills": ["first_aid", "cpr"],
        "zone_ids": [],
    }
    body.update(overrides)
    return body


def elder_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "name": "ตาบุญมี ศรีสุข",
        "home": {"lat": 16.885, "lon": 103.255},
        "dependency_group": 3,
        "conditions": ["เบาหวาน"],
        "medications": ["Metformin 500 mg"],
        "allergies": [],
        "blood_type": "B+",
        "contacts": [{"name": "ลูกชาย", "phone": "0898765432", "relation": "son"}],
        "language": "th",
    }
    body.update(overrides)
    return body


async def test_officer_adds_a_responder_who_logs_in_and_reports(
    client: httpx.AsyncClient, world: World
) -> None:
    body = responder_body(zone_ids=[str(world.zone_ids["North"])])
    created = await client.post(
        f"/v1/orgs/{world.org_id}/responders", json=body, headers=world.officer
    )
    assert created.status_code == 201, created.text
    responder = created.json()
    assert responder["kind"] == "volunteer" and responder["on_duty"] is False
    assert responder["zone_ids"] == [str(world.zone_ids["North"])]
    assert responder["last_location"] is None

    login = await client.post(
        "/v1/auth/token", data={"username": body["email"], "password": body["password"]}
    )
    headers = bearer(login.json()["access_token"])
    duty = await client.put("/v1/responders/me/status", json={"on_duty": True}, headers=headers)
    assert duty.status_code == 200 and duty.json()["on_duty"] is True

    recorded = datetime.now(UTC) - timedelta(seconds=5)
    fix = {"lat": 16.886, "lon": 103.256, "accuracy_m": 8.5, "recorded_at": recorded.isoformat()}
    assert (
        await client.post("/v1/responders/me/location", json=fix, headers=headers)
    ).status_code == 204
    older = {**fix, "lat": 10.0, "recorded_at": (recorded - timedelta(minutes=1)).isoformat()}
    assert (
        await client.post("/v1/responders/me/location", json=older, headers=headers)
    ).status_code == 204

    listed = await client.get(f"/v1/orgs/{world.org_id}/responders", headers=world.officer)
    mine = next(r for r in listed.json() if r["id"] == responder["id"])
    assert mine["on_duty"] is True
    assert mine["last_location"]["lat"] == 16.886  # the older fix did not overwrite it
    assert mine["last_location"]["accuracy_m"] == 8.5
    assert mine["last_location"]["recorded_at"].endswith("Z")


async def test_responder_input_and_access_are_checked(
    client: httpx.AsyncClient,
    world: World,
    other_world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    url = f"/v1/orgs/{world.org_id}/responders"
    before = await db_fingerprint(sessionmaker)
    for body in (
        responder_body(kind="doctor"),
        responder_body(phone=None),
        responder_body(email="bad"),
        responder_body(zone_ids=["not-a-uuid"]),
        responder_body(unknown_field=1),
    ):
        assert_problem(await client.post(url, json=body, headers=world.officer), 422)
    foreign_zone = responder_body(zone_ids=[str(other_world.zone_ids["North"])])
    assert_problem(
        await client.post(url, json=foreign_zone, headers=world.officer),
        422,
        detail="not zones of this organization",
    )
    assert_problem(await client.post(url, json=responder_body(), headers=other_world.officer), 403)
    assert_problem(await client.post(url, json=responder_body(), headers=world.responder), 403)
    taken = responder_body(email=world.responder_email)
    assert_problem(await client.post(url, json=taken, headers=world.officer), 409)
    assert await db_fingerprint(sessionmaker) == before


async def test_status_and_location_are_for_responders_and_validated(
    client: httpx.AsyncClient, world: World
) -> None:
    assert_problem(
        await client.put("/v1/responders/me/status", json={"on_duty": True}, headers=world.officer),
        403,
    )
    assert_problem(
        await client.put(
            "/v1/responders/me/status", json={"on_duty": "maybe"}, headers=world.responder
        ),
        422,
    )
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    for fix in (
        {"lat": 91, "lon": 103},
        {"lat": 16.8, "lon": "east"},
        {"lat": 16.8},
        {"lat": 16.8, "lon": 103, "accuracy_m": -3},
        {"lat": 16.8, "lon": 103, "recorded_at": future},
        {"lat": 16.8, "lon": 103, "recorded_at": "2026-01-01T00:00:00"},
    ):
        assert_problem(
            await client.post("/v1/responders/me/location", json=fix, headers=world.responder), 422
        )
    assert_problem(
        await client.post(
            "/v1/responders/me/location", json={"lat": 1, "lon": 1}, headers=world.elder
        ),
        403,
    )


async def test_officer_enrols_an_elder_and_manages_device_tokens(
    client: httpx.AsyncClient, world: World, other_world: World
) -> None:
    created = await client.post(
        f"/v1/orgs/{world.org_id}/elders", json=elder_body(), headers=world.officer
    )
    assert created.status_code == 201, created.text
    elder = created.json()
    assert elder["home"] == {"lat": 16.885, "lon": 103.255}
    assert elder["dependency_group"] == 3 and elder["contacts"][0]["relation"] == "son"

    issued = await client.post(f"/v1/elders/{elder['id']}/device-tokens", headers=world.officer)
    assert issued.status_code == 201, issued.text
    token = issued.json()
    device = bearer(token["device_token"])
    sos = await client.post("/v1/sos", json={"trigger": "button"}, headers=device)
    assert sos.status_code == 201

    assert_problem(
        await client.delete(
            f"/v1/elders/{elder['id']}/device-tokens/{token['id']}", headers=other_world.officer
        ),
        404,
    )
    revoked = await client.delete(
        f"/v1/elders/{elder['id']}/device-tokens/{token['id']}", headers=world.officer
    )
    assert revoked.status_code == 204
    assert_problem(
        await client.post("/v1/sos", json={"trigger": "button"}, headers=device),
        401,
        detail="revoked",
    )
    assert_problem(
        await client.delete(
            f"/v1/elders/{elder['id']}/device-tokens/{uuid.uuid4()}", headers=world.officer
        ),
        404,
    )
    assert_problem(
        await client.post(f"/v1/elders/{elder['id']}/device-tokens", headers=other_world.officer),
        404,
    )
    assert_problem(await client.get(f"/v1/elders/{elder['id']}", headers=other_world.officer), 404)
    assert_problem(await client.get(f"/v1/elders/{elder['id']}", headers=world.responder), 403)


async def test_elder_input_is_validated_without_change(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    url = f"/v1/orgs/{world.org_id}/elders"
    before = await db_fingerprint(sessionmaker)
    for body in (
        elder_body(dependency_group=4),
        elder_body(home={"lat": 16.8}),
        elder_body(home={"lat": 100, "lon": 103}),
        elder_body(language="fr"),
        elder_body(blood_type="Z"),
        elder_body(contacts=[{"name": "x"}]),
        elder_body(name=""),
    ):
        assert_problem(await client.post(url, json=body, headers=world.officer), 422)
    assert_problem(await client.post(url, json=elder_body(), headers=world.responder), 403)
    assert await db_fingerprint(sessionmaker) == before


async def test_push_devices_register_and_move_between_owners(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    token = f"fcm-{uuid.uuid4().hex}"
    first = await client.post(
        "/v1/devices", json={"fcm_token": token, "platform": "android"}, headers=world.responder
    )
    assert first.status_code == 201, first.text
    again = await client.post(
        "/v1/devices", json={"fcm_token": token, "platform": "android"}, headers=world.elder
    )
    assert again.status_code == 201 and again.json()["id"] == first.json()["id"]
    async with sessionmaker() as session:
        device = await session.scalar(select(PushDevice).where(PushDevice.fcm_token == token))
        assert device is not None
        assert device.elder_id == world.elder_id and device.user_id is None
    assert_problem(
        await client.post(
            "/v1/devices", json={"fcm_token": token, "platform": "nokia"}, headers=world.responder
        ),
        422,
    )
    assert_problem(
        await client.post(
            "/v1/devices", json={"fcm_token": "", "platform": "ios"}, headers=world.responder
        ),
        422,
    )
    officer_phone = await client.post(
        "/v1/devices", json={"fcm_token": "officer-x", "platform": "ios"}, headers=world.officer
    )
    assert officer_phone.status_code == 201  # escalations are pushed to officers
