"""PDPA (issue 7): the medical-access log, retention of location trails, the export of
everything held on an elder, and erasure. Real PostGIS, the app in-process; the live
channel against a real `phikat serve`."""

import asyncio
import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.exceptions import ConnectionClosed

from api.app import start_workers
from core.db import Base
from core.events.catalogue import CATALOGUE, EventName
from core.settings import Settings
from dispatch.models import ElderDeviceToken, Incident, MedicalAccess
from dispatch.privacy.retention import purge_expired_trails, retention_cutoff
from notifications.channels.factory import build_channels
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.dispatch_helpers import events, sos
from tests.factories import NORTH_HOME, World, bearer
from tests.helpers import assert_problem, db_fingerprint
from tests.live_support import ServerProcess, events_until, open_live, running_server
from tests.test_cli import run_phikat

Maker = async_sessionmaker[AsyncSession]
LOCATION = {"lat": NORTH_HOME[0] + 0.0005, "lon": NORTH_HOME[1], "accuracy_m": 8.0}


# --- helpers ------------------------------------------------------------------------


async def admin_headers(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.post(
        "/v1/auth/token", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return bearer(response.json()["access_token"])


async def access_rows(sessionmaker: Maker, elder_id: uuid.UUID | str) -> list[MedicalAccess]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(MedicalAccess)
            .where(MedicalAccess.elder_id == uuid.UUID(str(elder_id)))
            .order_by(MedicalAccess.id)
        )
        return list(rows)


def summary(rows: list[MedicalAccess]) -> list[tuple[str, str, str | None, str | None]]:
    """(what, principal kind, user or device id, incident id) per row, oldest first."""
    return [
        (
            r.what.value,
            r.principal_kind.value,
            str(r.user_id or r.device_token_id) if (r.user_id or r.device_token_id) else None,
            str(r.incident_id) if r.incident_id else None,
        )
        for r in rows
    ]


def digits(n: int) -> str:
    return "".join(random.choice("0123456789") for _ in range(n))


def unique_elder_body() -> dict[str, Any]:
    tag = uuid.uuid4().hex[:10]
    return {
        "name": f"ยายลบข้อมูล {tag}",
        "phone": f"08{digits(8)}",
        "address": f"บ้านเลขที่ {tag} หมู่ 3",
        "home": {"lat": NORTH_HOME[0], "lon": NORTH_HOME[1]},
        "dependency_group": 2,
        "conditions": [f"เบาหวาน-{tag}"],
        "medications": [f"Metformin-{tag}"],
        "allergies": [f"Sulfa-{tag}"],
        "blood_type": "B+",
        "contacts": [{"name": f"ลูกชาย {tag}", "phone": f"09{digits(8)}", "relation": "son"}],
    }


async def enrol(
    client: httpx.AsyncClient, world: World, body: dict[str, Any] | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """An elder enrolled through the API, and their phone's headers."""
    created = await client.post(
        f"/v1/orgs/{world.org_id}/elders", json=body or unique_elder_body(), headers=world.officer
    )
    assert created.status_code == 201, created.text
    elder = created.json()
    issued = await client.post(f"/v1/elders/{elder['id']}/device-tokens", headers=world.officer)
    assert issued.status_code == 201, issued.text
    return elder, bearer(issued.json()["device_token"])


async def press_sos(
    client: httpx.AsyncClient, phone: dict[str, str], key: str | None = None, **body: Any
) -> str:
    response = await client.post(
        "/v1/sos",
        json={"trigger": "button", **LOCATION, **body},
        headers={**phone, "Idempotency-Key": key or str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["incident_id"])


async def post(client: httpx.AsyncClient, url: str, headers: dict[str, str], **body: Any) -> Any:
    response = await client.post(url, json=body or None, headers=headers)
    assert response.status_code in (200, 204), response.text
    return response.json() if response.status_code == 200 else None


async def trail_scene(
    client: httpx.AsyncClient, world: World, phone: dict[str, str], *, close: str | None
) -> str:
    """An incident with a trail: accepted, both sides report positions, a second press
    with a fix; then resolved, cancelled or left open."""
    incident = await press_sos(client, phone)
    await post(client, f"/v1/incidents/{incident}/accept", world.responder)
    await post(client, f"/v1/incidents/{incident}/locations", phone, **LOCATION)
    await post(
        client,
        f"/v1/incidents/{incident}/locations",
        world.responder,
        lat=NORTH_HOME[0] + 0.001,
        lon=NORTH_HOME[1],
        accuracy_m=5,
    )
    joined = await client.post(
        "/v1/sos",
        json={"trigger": "button", "lat": NORTH_HOME[0], "lon": NORTH_HOME[1], "accuracy_m": 3},
        headers={**phone, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert joined.status_code == 200, joined.text
    if close == "resolve":
        await post(
            client,
            f"/v1/incidents/{incident}/resolve",
            world.responder,
            outcome="treated_on_scene",
        )
    elif close == "cancel":
        await post(client, f"/v1/incidents/{incident}/cancel", phone, reason="pressed by mistake")
    return incident


async def close_days_ago(sessionmaker: Maker, incident_id: str, days: float) -> None:
    async with sessionmaker() as session, session.begin():
        await session.execute(
            update(Incident)
            .where(Incident.id == uuid.UUID(incident_id))
            .values(closed_at=datetime.now(UTC) - timedelta(days=days))
        )


async def trail_of(sessionmaker: Maker, incident_id: str) -> tuple[int, int]:
    """(position events, incident.joined events that still carry a position)."""
    rows = await events(sessionmaker, incident_id)
    positions = sum(e.name in ("elder.location", "responder.location") for e in rows)
    joined = sum(e.name == "incident.joined" and bool(e.data.get("location")) for e in rows)
    return positions, joined


async def due_trails(sessionmaker: Maker, cutoff: datetime) -> int:
    async with sessionmaker() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(Incident)
                .where(
                    Incident.closed_at < cutoff,
                    Incident.trail_purged_at.is_(None),
                    Incident.state.in_(["resolved", "cancelled"]),
                )
            )
            or 0
        )


async def tables_holding(sessionmaker: Maker, needle: str) -> list[str]:
    """Every table with a row whose text (all columns, JSON and arrays included) holds
    ``needle``: a database-wide search."""
    found = []
    async with sessionmaker() as session:
        for table in Base.metadata.sorted_tables:
            hits = await session.scalar(
                text(f"select count(*) from {table.name} t where strpos(t::text, :needle) > 0"),
                {"needle": needle},
            )
            if hits:
                found.append(table.name)
    return found


# --- the medical-access log -----------------------------------------------------------


async def test_reading_an_elder_is_logged_and_the_list_carries_no_medical_facts(
    client: httpx.AsyncClient, world: World, other_world: World, sessionmaker: Maker
) -> None:
    elder, _ = await enrol(client, world)
    officer = str(world.officer_id)
    assert summary(await access_rows(sessionmaker, elder["id"])) == [
        ("enrolment", "officer", officer, None)
    ]

    listed = await client.get(f"/v1/orgs/{world.org_id}/elders", headers=world.officer)
    assert listed.status_code == 200
    mine = next(e for e in listed.json() if e["id"] == elder["id"])
    assert mine["name"] == elder["name"] and mine["home"] == elder["home"]
    for medical in ("conditions", "medications", "allergies", "blood_type", "contacts"):
        assert medical not in mine
    assert elder["conditions"][0] not in listed.text

    read = await client.get(f"/v1/elders/{elder['id']}", headers=world.officer)
    assert read.status_code == 200 and read.json()["conditions"] == elder["conditions"]
    admin = await admin_headers(client)
    assert (await client.get(f"/v1/elders/{elder['id']}", headers=admin)).status_code == 200

    # Denied reads leave no trace.
    assert_problem(await client.get(f"/v1/elders/{elder['id']}", headers=other_world.officer), 404)
    assert_problem(await client.get(f"/v1/elders/{elder['id']}", headers=world.responder), 403)

    rows = await access_rows(sessionmaker, elder["id"])
    assert [(w, k) for w, k, _, _ in summary(rows)] == [
        ("enrolment", "officer"),
        ("elder", "officer"),
        ("elder", "admin"),
    ]
    assert all(r.organization_id == world.org_id for r in rows)

    log = await client.get(f"/v1/elders/{elder['id']}/medical-access", headers=world.officer)
    assert log.status_code == 200, log.text
    assert [(e["what"], e["principal_kind"]) for e in log.json()] == [
        ("elder", "admin"),
        ("elder", "officer"),
        ("enrolment", "officer"),
    ]
    assert log.json()[1]["user_id"] == officer and log.json()[1]["at"].endswith("Z")
    # The log holds no medical data, and reading it is not a medical read.
    for secret in (*elder["conditions"], *elder["medications"], elder["contacts"][0]["phone"]):
        assert secret not in log.text
    assert len(await access_rows(sessionmaker, elder["id"])) == 3
    limited = await client.get(f"/v1/elders/{elder['id']}/medical-access?limit=1", headers=admin)
    assert [e["what"] for e in limited.json()] == ["elder"]

    url = f"/v1/elders/{elder['id']}/medical-access"
    assert_problem(await client.get(url, headers=other_world.officer), 404)
    assert_problem(await client.get(url, headers=world.responder), 403)
    assert_problem(await client.get(url, headers=world.elder), 403)
    assert_problem(await client.get(url), 401)
    assert_problem(
        await client.get(f"/v1/elders/{uuid.uuid4()}/medical-access", headers=admin), 404
    )
    assert_problem(await client.get("/v1/elders/not-a-uuid/medical-access", headers=admin), 422)
    assert_problem(await client.get(f"{url}?limit=0", headers=world.officer), 422)


async def test_incident_reads_are_logged_when_they_show_medical_details(
    client: httpx.AsyncClient, world: World, other_world: World, sessionmaker: Maker
) -> None:
    incident = await sos(client, world, **LOCATION)
    url = f"/v1/incidents/{incident}"
    before = len(await access_rows(sessionmaker, world.elder_id))

    # Without medical details: the elder's own phone, a responder merely offered.
    for headers in (world.elder, world.responder):
        seen = await client.get(url, headers=headers)
        assert seen.status_code == 200 and seen.json()["elder"]["medical"] is None
    # Denied.
    assert_problem(await client.get(url, headers=other_world.officer), 404)
    assert_problem(await client.post(f"{url}/accept", headers=other_world.responder), 404)
    assert len(await access_rows(sessionmaker, world.elder_id)) == before

    officer = await client.get(url, headers=world.officer)
    assert officer.json()["elder"]["medical"]["conditions"] == ["ความดันโลหิตสูง"]
    accepted = await post(client, f"{url}/accept", world.responder)
    assert accepted["elder"]["medical"] is not None
    assert (await client.get(url, headers=world.responder)).json()["elder"]["medical"]
    await post(client, f"{url}/escalate", world.officer)
    escalated = (await client.get(url, headers=world.officer)).json()
    dossier = next(e for e in escalated["events"] if e["data"].get("level") == 2)
    assert dossier["data"]["handoff"]["elder"]["conditions"] == ["ความดันโลหิตสูง"]
    # Closed: the assigned responder no longer sees medical details, so no row.
    resolved = await post(
        client, f"{url}/resolve", world.responder, outcome="treated_on_scene", note="ok"
    )
    assert resolved["elder"]["medical"] is None
    await client.get(url, headers=world.elder)

    rows = (await access_rows(sessionmaker, world.elder_id))[before:]
    assert summary(rows) == [
        ("incident", "officer", str(world.officer_id), incident),
        ("incident", "responder", str(world.responder_id), incident),
        ("incident", "responder", str(world.responder_id), incident),
        ("incident", "officer", str(world.officer_id), incident),
        ("incident", "officer", str(world.officer_id), incident),
    ]
    # Lists and offers carry no medical details: not logged.
    listed = await client.get(f"/v1/orgs/{world.org_id}/incidents", headers=world.officer)
    assert listed.status_code == 200
    assert (
        await client.get("/v1/responders/me/offers", headers=world.responder)
    ).status_code == 200
    assert len(await access_rows(sessionmaker, world.elder_id)) == before + 5


# --- retention of location trails ---------------------------------------------------------


async def test_retention_deletes_exactly_the_trails_of_incidents_closed_before_the_cutoff(
    client: httpx.AsyncClient, world: World, sessionmaker: Maker
) -> None:
    phones = [(await enrol(client, world))[1] for _ in range(4)]
    old_resolved = await trail_scene(client, world, phones[0], close="resolve")
    old_cancelled = await trail_scene(client, world, phones[1], close="cancel")
    recent = await trail_scene(client, world, phones[2], close="resolve")
    still_open = await trail_scene(client, world, phones[3], close=None)
    await close_days_ago(sessionmaker, old_resolved, 31)
    await close_days_ago(sessionmaker, old_cancelled, 45)
    await close_days_ago(sessionmaker, recent, 29)
    assert await trail_of(sessionmaker, old_resolved) == (2, 1)
    assert await trail_of(sessionmaker, old_cancelled) == (2, 1)
    before = {
        i: (await client.get(f"/v1/incidents/{i}", headers=world.officer)).json()
        for i in (old_resolved, recent)
    }
    assert len(before[old_resolved]["trail"]) == 2

    report = await purge_expired_trails(sessionmaker, retention_days=30)
    assert report.incidents >= 2 and report.positions >= 4 and report.sos_fixes >= 2

    for purged in (old_resolved, old_cancelled):
        assert await trail_of(sessionmaker, purged) == (0, 0)
        after = (await client.get(f"/v1/incidents/{purged}", headers=world.officer)).json()
        assert after["trail"] == []
        # The incident itself stays: SOS point, states, times, outcome, the joined press.
        names = [e["event"] for e in after["events"]]
        assert "incident.opened" in names and "incident.joined" in names
        opened = next(e for e in after["events"] if e["event"] == "incident.opened")
        assert opened["data"]["location"] == {"lat": LOCATION["lat"], "lon": LOCATION["lon"]}
        # The press's position is cleared, not its key: the event still fits its type.
        joined = next(e for e in after["events"] if e["event"] == "incident.joined")
        assert joined["data"]["location"] is None
        TypeAdapter(CATALOGUE[EventName.INCIDENT_JOINED].payload).validate_python(joined["data"])
    kept = (await client.get(f"/v1/incidents/{old_resolved}", headers=world.officer)).json()
    for field in ("location", "state", "created_at", "accepted_at", "closed_at", "outcome"):
        assert kept[field] == before[old_resolved][field]
    assert await trail_of(sessionmaker, recent) == (2, 1)
    assert await trail_of(sessionmaker, still_open) == (2, 1)
    assert (await client.get(f"/v1/incidents/{recent}", headers=world.officer)).json() == (
        before[recent]
    )
    # Once purged, an incident is never swept again.
    async with sessionmaker() as session:
        purged_at = await session.scalar(
            select(Incident.trail_purged_at).where(Incident.id == uuid.UUID(old_resolved))
        )
    assert purged_at is not None
    await purge_expired_trails(sessionmaker, retention_days=30)
    assert await trail_of(sessionmaker, recent) == (2, 1)
    async with sessionmaker() as session:
        assert purged_at == await session.scalar(
            select(Incident.trail_purged_at).where(Incident.id == uuid.UUID(old_resolved))
        )


async def test_concurrent_sweeps_purge_each_trail_once(
    client: httpx.AsyncClient, world: World, sessionmaker: Maker
) -> None:
    incidents = []
    for _ in range(5):
        _, phone = await enrol(client, world)
        incidents.append(await trail_scene(client, world, phone, close="resolve"))
        await close_days_ago(sessionmaker, incidents[-1], 40)
    now = datetime.now(UTC)
    due = await due_trails(sessionmaker, retention_cutoff(30, now))
    assert due >= 5
    reports = await asyncio.gather(
        *(
            purge_expired_trails(sessionmaker, retention_days=30, now=now, batch_size=1)
            for _ in range(4)
        )
    )
    assert sum(r.incidents for r in reports) == due
    assert await due_trails(sessionmaker, retention_cutoff(30, now)) == 0
    for incident in incidents:
        assert await trail_of(sessionmaker, incident) == (0, 0)


async def test_the_workers_sweep_on_schedule_and_the_cli_purges(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    settings: Settings,
    database_url: str,
) -> None:
    async def old_trail() -> str:
        _, phone = await enrol(client, world)
        incident = await trail_scene(client, world, phone, close="resolve")
        await close_days_ago(sessionmaker, incident, 31)
        return incident

    async def purged(incident: str) -> None:
        for _ in range(200):  # 10 s
            if await trail_of(sessionmaker, incident) == (0, 0):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"the sweep did not purge {incident}")

    first = await old_trail()
    fast = settings.model_copy(update={"retention_sweep_s": 0.2})
    channels = build_channels(fast)
    stop = asyncio.Event()
    tasks = start_workers(sessionmaker, channels, fast, stop)
    try:
        assert "retention-sweep" in {t.get_name() for t in tasks}
        await purged(first)
        second = await old_trail()  # created after the first sweep: found by a later one
        await purged(second)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await channels.close()

    third = await old_trail()
    recent = await trail_scene(client, world, (await enrol(client, world))[1], close="resolve")
    result = await asyncio.to_thread(
        run_phikat, "privacy", "purge", database_url=database_url, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "deleted the trails of" in result.stdout and "(30 days)" in result.stdout
    assert await trail_of(sessionmaker, third) == (0, 0)
    assert await trail_of(sessionmaker, recent) == (2, 1)
    shorter = await asyncio.to_thread(
        run_phikat, "privacy", "purge", "--days", "0", database_url=database_url
    )
    assert shorter.returncode != 0  # at least one day


# --- export -----------------------------------------------------------------------------


async def test_the_export_holds_every_section_and_no_secrets(
    client: httpx.AsyncClient, world: World, other_world: World, sessionmaker: Maker
) -> None:
    elder, phone = await enrol(client, world)
    fcm = f"fcm-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    registered = await client.post(
        "/v1/devices", json={"fcm_token": fcm, "platform": "android"}, headers=phone
    )
    assert registered.status_code == 201, registered.text
    spare = await client.post(
        f"/v1/elders/{elder['id']}/device-tokens", json={"label": "old"}, headers=world.officer
    )
    revoked = await client.delete(
        f"/v1/elders/{elder['id']}/device-tokens/{spare.json()['id']}", headers=world.officer
    )
    assert revoked.status_code == 204
    key = str(uuid.uuid4())
    incident = await press_sos(client, phone, key=key)
    await post(client, f"/v1/incidents/{incident}/accept", world.responder)
    await post(client, f"/v1/incidents/{incident}/locations", phone, **LOCATION)
    await post(client, f"/v1/incidents/{incident}/escalate", world.officer)
    await post(client, f"/v1/incidents/{incident}/resolve", world.responder, outcome="transported")
    # Check-ins, a safe zone and a position outside incidents are the elder's data too.
    plan = await client.put(
        f"/v1/elders/{elder['id']}/checkin-plan", json={"times": ["09:00"]}, headers=world.officer
    )
    assert plan.status_code == 200, plan.text
    tapped = await client.post("/v1/elders/me/checkins", json={}, headers=phone)
    assert tapped.status_code == 201, tapped.text
    zone = {"name": "บ้าน", "kind": "circle", "circle": {"radius_m": 300}}
    made = await client.post(
        f"/v1/elders/{elder['id']}/safe-zones", json=zone, headers=world.officer
    )
    assert made.status_code == 201, made.text
    fix = {**LOCATION, "accuracy_m": 15, "captured_at": datetime.now(UTC).isoformat()}
    moved = await client.post("/v1/elders/me/positions", json=fix, headers=phone)
    assert moved.status_code == 200, moved.text
    before = len(await access_rows(sessionmaker, elder["id"]))
    url = f"/v1/elders/{elder['id']}/export"

    fingerprint = await db_fingerprint(sessionmaker)
    assert_problem(await client.get(url, headers=other_world.officer), 404)
    assert_problem(await client.get(url, headers=world.responder), 403)
    assert_problem(await client.get(url, headers=phone), 403)
    assert_problem(
        await client.get(f"/v1/elders/{uuid.uuid4()}/export", headers=world.officer), 404
    )
    assert await db_fingerprint(sessionmaker) == fingerprint

    exported = await client.get(url, headers=world.officer)
    assert exported.status_code == 200, exported.text
    doc = exported.json()
    assert set(doc) >= {
        "generated_at",
        "elder",
        "device_tokens",
        "push_devices",
        "incidents",
        "sos_requests",
        "messages",
        "medical_access",
    }
    assert doc["elder"]["conditions"] == elder["conditions"]
    assert doc["elder"]["contacts"] == elder["contacts"]
    assert doc["location_retention_days"] == 30
    assert [t["label"] for t in doc["device_tokens"]] == [None, "old"]
    assert doc["device_tokens"][1]["revoked_at"] is not None
    (device,) = doc["push_devices"]
    assert device["platform"] == "android" and device["fcm_token_hint"] == "…" + fcm[-6:]
    (exported_incident,) = doc["incidents"]
    assert exported_incident["id"] == incident
    assert exported_incident["elder"]["medical"]["conditions"] == elder["conditions"]
    assert exported_incident["offers"] and exported_incident["trail"]
    assert "incident.escalated" in [e["event"] for e in exported_incident["events"]]
    assert [(r["idempotency_key"], r["incident_id"]) for r in doc["sos_requests"]] == [
        (key, incident)
    ]
    kinds = {m["kind"] for m in doc["messages"]}
    assert {"offer", "help_coming", "help_coming_family", "escalation"} <= kinds
    family = next(m for m in doc["messages"] if m["kind"] == "help_coming_family")
    assert family["recipient_phone"] == elder["contacts"][0]["phone"] and family["body"]
    assert doc["checkin_plan"]["times"] == ["09:00"]
    assert [c["id"] for c in doc["checkins"]] == [tapped.json()["id"]]
    assert [z["name"] for z in doc["safe_zones"]] == ["บ้าน"]
    assert [(p["lat"], p["lon"]) for p in doc["positions"]] == [(fix["lat"], fix["lon"])]
    # The export is itself logged, and lists itself first.
    assert doc["medical_access"][0]["what"] == "export"
    assert doc["medical_access"][-1]["what"] == "enrolment"
    rows = await access_rows(sessionmaker, elder["id"])
    assert summary(rows[before:]) == [("export", "officer", str(world.officer_id), None)]

    # No secrets: no token hashes or raw tokens, no request fingerprints.
    async with sessionmaker() as session:
        hashes = list(
            await session.scalars(
                select(ElderDeviceToken.secret_hash).where(
                    ElderDeviceToken.elder_id == uuid.UUID(elder["id"])
                )
            )
        )
    assert len(hashes) == 2
    body = exported.text
    for secret in (*hashes, fcm, phone["Authorization"].removeprefix("Bearer ")):
        assert secret not in body
    assert "hash" not in body and "secret" not in body

    admin = await client.get(url, headers=await admin_headers(client))
    assert admin.status_code == 200
    assert admin.json()["medical_access"][0]["principal_kind"] == "admin"


# --- erasure -----------------------------------------------------------------------------


async def test_erasure_removes_every_trace_and_keeps_anonymous_incidents(
    client: httpx.AsyncClient, world: World, other_world: World, sessionmaker: Maker
) -> None:
    body = unique_elder_body()
    elder, phone = await enrol(client, world, body)
    fcm = f"fcm-erase-{uuid.uuid4().hex}"
    await client.post("/v1/devices", json={"fcm_token": fcm, "platform": "ios"}, headers=phone)
    first = await trail_scene(client, world, phone, close=None)
    await post(client, f"/v1/incidents/{first}/escalate", world.officer)
    await client.get(f"/v1/elders/{elder['id']}", headers=world.officer)
    url = f"/v1/elders/{elder['id']}"

    # An open incident: refused, nothing changes; another organization: 404, nothing changes.
    fingerprint = await db_fingerprint(sessionmaker)
    conflict = assert_problem(await client.delete(url, headers=world.officer), 409)
    assert "open incident" in conflict["detail"]
    assert_problem(await client.delete(url, headers=other_world.officer), 404)
    assert_problem(await client.delete(url, headers=world.responder), 403)
    assert_problem(await client.delete(url, headers=phone), 403)
    assert_problem(await client.delete("/v1/elders/not-a-uuid", headers=world.officer), 422)
    assert await db_fingerprint(sessionmaker) == fingerprint

    await post(
        client,
        f"/v1/incidents/{first}/resolve",
        world.officer,
        outcome="transported",
        note=f"ส่ง {body['name']} โรงพยาบาล",
    )
    second = await press_sos(client, phone)
    await post(client, f"/v1/incidents/{second}/cancel", phone, reason=f"{body['name']} ok")

    # Another elder of the organization, with an incident: must stay intact.
    other_incident = await sos(client, world, **LOCATION)
    await post(client, f"/v1/incidents/{other_incident}/locations", world.elder, **LOCATION)
    other_before = (
        await client.get(f"/v1/incidents/{other_incident}", headers=world.officer)
    ).json()

    secrets = [
        body["name"],
        body["phone"],
        body["address"],
        *body["conditions"],
        *body["medications"],
        *body["allergies"],
        body["contacts"][0]["name"],
        body["contacts"][0]["phone"],
        fcm,
    ]
    assert await tables_holding(sessionmaker, body["name"])  # it is there before
    erased = await client.delete(url, headers=world.officer)
    assert erased.status_code == 204, erased.text
    assert erased.content == b""

    for secret in secrets:
        assert await tables_holding(sessionmaker, secret) == [], secret
    assert await tables_holding(sessionmaker, elder["id"]) == ["medical_access"]

    assert_problem(await client.get(url, headers=world.officer), 404)
    assert_problem(await client.delete(url, headers=world.officer), 404)
    assert_problem(await client.post("/v1/sos", json={"trigger": "button"}, headers=phone), 401)

    # The incidents stay, anonymous: no elder, no trail, the point on a ~1 km grid.
    for incident_id, state in ((first, "resolved"), (second, "cancelled")):
        seen = await client.get(f"/v1/incidents/{incident_id}", headers=world.officer)
        assert seen.status_code == 200, seen.text
        anon = seen.json()
        assert anon["elder"] is None and anon["elder_id"] is None and anon["elder_name"] is None
        assert anon["state"] == state and anon["trail"] == [] and anon["note"] is None
        for coordinate in anon["location"].values():
            assert abs(coordinate * 100 - round(coordinate * 100)) < 1e-6
        assert all("elder_id" not in e["data"] for e in anon["events"])
    listed = await client.get(f"/v1/orgs/{world.org_id}/incidents", headers=world.officer)
    assert {first, second} <= {i["id"] for i in listed.json()}
    report = await client.get(
        f"/v1/orgs/{world.org_id}/reports/response-times", headers=world.officer
    )
    assert report.status_code == 200 and report.json()["incidents"] >= 3

    # The access log stays (it holds no medical data) and ends with the erasure.
    log = await client.get(f"{url}/medical-access", headers=world.officer)
    assert log.status_code == 200, log.text
    whats = [e["what"] for e in log.json()]
    assert whats[0] == "erasure" and whats[-1] == "enrolment" and "elder" in whats
    assert log.json()[0]["user_id"] == str(world.officer_id)
    assert_problem(await client.get(f"{url}/medical-access", headers=other_world.officer), 404)

    # The other elder is untouched.
    other = await client.get(f"/v1/elders/{world.elder_id}", headers=world.officer)
    assert other.status_code == 200 and other.json()["conditions"] == ["ความดันโลหิตสูง"]
    after = (await client.get(f"/v1/incidents/{other_incident}", headers=world.officer)).json()
    assert after["trail"] == other_before["trail"] and after["elder"]["name"]
    assert (
        await client.post("/v1/sos", json={"trigger": "button"}, headers=world.elder)
    ).status_code == 200


# --- the live channel (a real server) ------------------------------------------------------


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[ServerProcess]:
    with running_server(settings) as process:
        yield process


@pytest.mark.slow
async def test_the_dossier_on_a_live_socket_is_logged_and_erasure_closes_the_phone(
    server: ServerProcess, client: httpx.AsyncClient, world: World, sessionmaker: Maker
) -> None:
    elder, phone = await enrol(client, world)
    officer_ws, _ = await open_live(server.ws, world.officer)
    responder_ws, _ = await open_live(server.ws, world.responder)
    phone_ws, _ = await open_live(server.ws, phone)
    async with officer_ws, responder_ws:
        incident = await press_sos(client, phone)
        before = len(await access_rows(sessionmaker, elder["id"]))
        escalated = await client.post(f"/v1/incidents/{incident}/escalate", headers=world.officer)
        assert escalated.status_code == 200

        def dossier(frame: dict[str, Any]) -> bool:
            return bool(frame["event"] == "incident.escalated" and frame["data"].get("level") == 2)

        officer_frames = await events_until(officer_ws, dossier)
        assert officer_frames[-1]["data"]["handoff"]["elder"]["name"] == elder["name"]
        responder_frames = await events_until(responder_ws, dossier)
        assert "handoff" not in responder_frames[-1]["data"]

        for _ in range(200):  # the live row is written by the server after the send
            if len(await access_rows(sessionmaker, elder["id"])) >= before + 2:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # nothing more comes
        rows = (await access_rows(sessionmaker, elder["id"]))[before:]
        assert sorted(summary(rows)) == [
            ("incident", "officer", str(world.officer_id), incident),
            ("live", "officer", str(world.officer_id), incident),
        ]

    await post(client, f"/v1/incidents/{incident}/cancel", world.officer, reason="test")
    async with phone_ws:
        erased = await client.delete(f"/v1/elders/{elder['id']}", headers=world.officer)
        assert erased.status_code == 204
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                json.loads(await asyncio.wait_for(phone_ws.recv(), 10))
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
