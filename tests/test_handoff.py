"""The 1669 hand-off (issue 15): the EIDO-profile record (schema-valid, first version and
updates), its signed delivery to the centre's webhook from the outbox (retries,
timeouts, receipt), the centre's signed answers (each ASAP status, idempotent, bad
signature and stale timestamp refused, a rejection alerting the officers), the
printable sheet, and the medical-access log."""

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.uow import unit_of_work
from dispatch.models import Elder, MedicalAccess
from notifications.channels.handoff import HandoffWebhookChannel
from notifications.channels.log import LogChannel
from notifications.models import OutboxMessage, OutboxState
from notifications.sender import Channels, send_due
from tests.dispatch_helpers import events, sos
from tests.factories import World
from tests.fake_centre import FakeCentre, FakeCentreServer, independent_signature
from tests.helpers import assert_problem

Maker = async_sessionmaker[AsyncSession]
SECRET = "a-shared-secret-of-the-province-centre-0123456789"
SCHEMA = json.loads((Path(__file__).parents[1] / "docs" / "handoff.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(
    SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
)


@pytest.fixture(scope="module")
def centre_server() -> Iterator[FakeCentre]:
    with FakeCentreServer(SECRET) as centre:
        yield centre


@pytest.fixture
def centre(centre_server: FakeCentre) -> FakeCentre:
    centre_server.received.clear()
    centre_server.script.clear()
    centre_server.delays.clear()
    return centre_server


@pytest.fixture
async def channels() -> AsyncIterator[Channels]:
    built = Channels(
        push=LogChannel("push"), sms=LogChannel("sms"), handoff=HandoffWebhookChannel(timeout_s=1)
    )
    yield built
    await built.close()


async def configure(client: httpx.AsyncClient, world: World, centre: FakeCentre) -> None:
    response = await client.put(
        f"/v1/orgs/{world.org_id}/handoff-centre",
        json={"url": centre.url, "secret": SECRET},
        headers=world.officer,
    )
    assert response.status_code == 200, response.text
    assert SECRET not in response.text and response.json()["secret_set"] is True


async def handed_off(client: httpx.AsyncClient, world: World, centre: FakeCentre) -> str:
    await configure(client, world, centre)
    incident = await sos(client, world)
    response = await client.post(f"/v1/incidents/{incident}/escalate", headers=world.officer)
    assert response.status_code == 200, response.text
    return incident


async def handoff_rows(sessionmaker: Maker, incident: str) -> list[OutboxMessage]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(
                OutboxMessage.incident_id == uuid.UUID(incident), OutboxMessage.route == "handoff"
            )
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
        )
        return list(rows)


async def make_due(sessionmaker: Maker, incident: str) -> None:
    async with unit_of_work(sessionmaker) as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.incident_id == uuid.UUID(incident))
            .values(next_attempt_at=datetime.now(UTC))
        )


def valid(record: dict[str, Any]) -> dict[str, Any]:
    errors = sorted(VALIDATOR.iter_errors(record), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    return record


def signed(body: bytes, *, secret: str = SECRET, at: float | None = None) -> dict[str, str]:
    timestamp = str(int(at if at is not None else time.time()))
    return {
        "X-Phikat-Timestamp": timestamp,
        "X-Phikat-Signature": independent_signature(secret, timestamp, body),
        "Content-Type": "application/json",
    }


async def answer(
    client: httpx.AsyncClient, world: World, incident: str, status: str, **extra: Any
) -> httpx.Response:
    body = json.dumps(
        {
            "incident_id": incident,
            "answer_id": extra.pop("answer_id", f"{status}-1"),
            "status": status,
            "answered_at": datetime.now(UTC).isoformat(),
            **extra,
        }
    ).encode()
    return await client.post(
        f"/v1/orgs/{world.org_id}/handoff/answers", content=body, headers=signed(body)
    )


async def test_the_record_is_signed_schema_valid_and_delivered_with_a_receipt(
    client: httpx.AsyncClient,
    world: World,
    centre: FakeCentre,
    channels: Channels,
    sessionmaker: Maker,
) -> None:
    incident = await handed_off(client, world, centre)
    assert await send_due(sessionmaker, channels) >= 1
    assert len(centre.received) == 1
    got = centre.received[0]
    assert got.signature_ok, got.headers
    record = valid(got.body)
    assert record["recordVersion"] == 1 and record["updateCause"] == "handed_off"
    assert record["incidentComponent"]["internalIncidentId"] == incident
    person = record["personComponent"][0]
    assert person["medical"]["medications"] == ["Amlodipine 5 mg"]
    assert person["medical"]["allergies"] == ["Penicillin"]
    assert person["dependencyGroupNumber"] in (1, 2, 3)
    # The agent is the officer who handed it over; every part names the agency.
    assert record["agentComponent"][0]["$id"] == f"urn:phikat:agent:{world.officer_id}"
    agency = record["agencyComponent"][0]["$id"]
    for part in [record["incidentComponent"], *record["locationComponent"], person]:
        assert part["updatedByAgencyReference"] == {"$ref": agency}
        assert "lastUpdateTimeStamp" in part
    caller = record["locationComponent"][0]
    assert caller["locationTypeDescriptionRegistryText"] == "Caller"
    assert {"geo", "uncertaintyRadiusMeters", "locationSourceText"} <= caller.keys()
    assert any(c["callbackRoleText"] == "Agency" for c in record["callbackComponent"])

    timeline = [e for e in await events(sessionmaker, incident) if e.name.startswith("handoff.")]
    assert [e.name for e in timeline] == ["handoff.sent", "handoff.delivered"]
    assert timeline[1].data["reference"] == "C-1" and timeline[1].data["attempts"] == 1
    async with sessionmaker() as session:
        access = list(
            await session.scalars(
                select(MedicalAccess).where(
                    MedicalAccess.incident_id == uuid.UUID(incident),
                    MedicalAccess.what == "handoff",
                )
            )
        )
    assert [(a.principal_kind, a.user_id) for a in access] == [("officer", world.officer_id)]

    # The secret is never shown.
    shown = await client.get(f"/v1/orgs/{world.org_id}/handoff-centre", headers=world.officer)
    assert shown.status_code == 200 and SECRET not in shown.text
    assert shown.json()["url"] == centre.url


async def test_each_change_after_the_hand_off_is_a_new_schema_valid_version(
    client: httpx.AsyncClient,
    world: World,
    centre: FakeCentre,
    channels: Channels,
    sessionmaker: Maker,
) -> None:
    incident = await handed_off(client, world, centre)
    url = f"/v1/incidents/{incident}"
    moved = await client.post(
        f"{url}/locations",
        json={"lat": 16.8861, "lon": 103.2566, "accuracy_m": 8},
        headers=world.elder,
    )
    assert moved.status_code == 204, moved.text
    assigned = await client.post(
        f"{url}/assign", json={"responder_id": str(world.responder_id)}, headers=world.officer
    )
    assert assigned.status_code == 200, assigned.text
    assert (await client.post(f"{url}/arrive", headers=world.responder)).status_code == 200
    resolved = await client.post(
        f"{url}/resolve", json={"outcome": "transported"}, headers=world.responder
    )
    assert resolved.status_code == 200, resolved.text
    while await send_due(sessionmaker, channels):
        pass
    records = [valid(r.body) for r in centre.received]
    assert [(r["recordVersion"], r["updateCause"]) for r in records] == [
        (1, "handed_off"),
        (2, "elder_location"),
        (3, "accepted"),
        (4, "on_scene"),
        (5, "resolved"),
    ]
    trail = [
        loc
        for loc in records[1]["locationComponent"]
        if loc["locationTypeDescriptionRegistryText"] == "Trail"
    ]
    assert trail[-1]["geo"] == {"lat": 16.8861, "lon": 103.2566}
    assert records[2]["emergencyResourceComponent"][0]["primaryUnitStatusRegistryText"] == (
        "Dispatched"
    )
    assert records[3]["incidentComponent"]["incidentStatusCommonRegistryText"] == "OnScene"
    assert records[4]["incidentComponent"]["dispositionText"] == "transported"
    # Every version keeps naming the officer who handed it over.
    assert {r["updatedByAgentReference"]["$ref"] for r in records} == {
        f"urn:phikat:agent:{world.officer_id}"
    }


async def test_a_500_and_a_timeout_are_retried_with_the_same_delivery_id(
    client: httpx.AsyncClient,
    world: World,
    centre: FakeCentre,
    channels: Channels,
    sessionmaker: Maker,
) -> None:
    incident = await handed_off(client, world, centre)
    centre.script[:] = [500, 200, 200]
    centre.delays[:] = [0.0, 3.0]  # the second try gets no answer within the 1 s timeout
    await send_due(sessionmaker, channels)
    (row,) = await handoff_rows(sessionmaker, incident)
    assert row.state == OutboxState.PENDING and row.last_error == "1669 centre 500"
    assert row.next_attempt_at > datetime.now(UTC)
    await make_due(sessionmaker, incident)
    await send_due(sessionmaker, channels)
    (row,) = await handoff_rows(sessionmaker, incident)
    assert row.state == OutboxState.PENDING and row.last_error == "1669 centre: no answer in time"
    await make_due(sessionmaker, incident)
    await send_due(sessionmaker, channels)
    (row,) = await handoff_rows(sessionmaker, incident)
    assert row.state == OutboxState.SENT and row.attempts == 3
    ids = {r.headers["x-phikat-delivery"] for r in centre.received}
    assert ids == {str(row.id)} and len(centre.received) == 3
    delivered = [e for e in await events(sessionmaker, incident) if e.name == "handoff.delivered"]
    assert [(e.data["attempts"], e.data["reference"]) for e in delivered] == [(3, "C-3")]


async def test_a_later_version_waits_while_an_earlier_one_is_retried(
    client: httpx.AsyncClient,
    world: World,
    centre: FakeCentre,
    channels: Channels,
    sessionmaker: Maker,
) -> None:
    """The centre sees an incident's versions in order: version 2 is not sent while
    version 1 waits for its retry, however they were queued or leased."""
    incident = await handed_off(client, world, centre)
    centre.script[:] = [503]
    await send_due(sessionmaker, channels)  # version 1: 503, retried later
    moved = await client.post(
        f"/v1/incidents/{incident}/locations",
        json={"lat": 16.8861, "lon": 103.2566, "accuracy_m": 8},
        headers=world.elder,
    )
    assert moved.status_code == 204, moved.text
    await send_due(sessionmaker, channels)
    assert [valid(r.body)["recordVersion"] for r in centre.received] == [1]
    first, second = await handoff_rows(sessionmaker, incident)
    assert first.state == second.state == OutboxState.PENDING and second.attempts == 0
    # Both due, the later one due first: still version 1, then version 2.
    async with unit_of_work(sessionmaker) as session:
        for row, ago in ((first, 1), (second, 60)):
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id)
                .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=ago))
            )
    while await send_due(sessionmaker, channels):
        pass
    assert [valid(r.body)["recordVersion"] for r in centre.received] == [1, 1, 2]


async def test_a_refusal_fails_the_message_and_tells_the_officers(
    client: httpx.AsyncClient,
    world: World,
    centre: FakeCentre,
    channels: Channels,
    sessionmaker: Maker,
) -> None:
    incident = await handed_off(client, world, centre)
    centre.script[:] = [400]
    await send_due(sessionmaker, channels)
    (row,) = await handoff_rows(sessionmaker, incident)
    assert row.state == OutboxState.FAILED and row.last_error == "1669 centre refused: 400"
    names = [e.name for e in await events(sessionmaker, incident)]
    assert "message.failed" in names and "handoff.delivered" not in names


async def test_each_asap_answer_is_one_event_and_a_rejection_alerts_the_officers(
    client: httpx.AsyncClient, world: World, centre: FakeCentre, sessionmaker: Maker
) -> None:
    incident = await handed_off(client, world, centre)
    for status, extra in [
        ("accepted", {"reference": "KK-1669-0042"}),
        ("dispatched", {}),
        ("arrived", {}),
        ("closed", {"disposition": "transported to Kalasin hospital"}),
    ]:
        response = await answer(client, world, incident, status, **extra)
        assert response.status_code == 200, response.text
        assert response.json() == {"recorded": True}
    again = await answer(client, world, incident, "accepted", reference="KK-1669-0042")
    assert again.status_code == 200 and again.json() == {"recorded": False}
    answered = [e for e in await events(sessionmaker, incident) if e.name == "handoff.answered"]
    assert [e.data["status"] for e in answered] == ["accepted", "dispatched", "arrived", "closed"]
    assert answered[0].data["reference"] == "KK-1669-0042"
    assert answered[-1].data["disposition"] == "transported to Kalasin hospital"

    # On the officers' timeline; not on the elder's device's view of the incident.
    officer = await client.get(f"/v1/incidents/{incident}", headers=world.officer)
    assert "handoff.answered" in {e["event"] for e in officer.json()["events"]}
    elder = await client.get(f"/v1/incidents/{incident}", headers=world.elder)
    assert elder.status_code == 200 and "handoff" not in json.dumps(elder.json()["events"])

    no_reason = await answer(client, world, incident, "rejected", answer_id="r-0")
    assert_problem(no_reason, 422)
    rejected = await answer(
        client, world, incident, "rejected", answer_id="r-1", reason="no ambulance free"
    )
    assert rejected.status_code == 200, rejected.text
    async with sessionmaker() as session:
        pushes = list(
            await session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.incident_id == uuid.UUID(incident),
                    OutboxMessage.kind == "handoff_rejected",
                )
            )
        )
    assert [(p.recipient_user_id, p.payload["urgent"]) for p in pushes] == [
        (world.officer_id, True)
    ]
    assert "no ambulance free" in pushes[0].payload["body"]


async def test_bad_signature_stale_timestamp_and_unknown_centre_are_401_with_no_event(
    client: httpx.AsyncClient,
    world: World,
    other_world: World,
    centre: FakeCentre,
    sessionmaker: Maker,
) -> None:
    incident = await handed_off(client, world, centre)
    before = [e.id for e in await events(sessionmaker, incident)]
    body = json.dumps(
        {
            "incident_id": incident,
            "answer_id": "x",
            "status": "accepted",
            "answered_at": datetime.now(UTC).isoformat(),
        }
    ).encode()
    url = f"/v1/orgs/{world.org_id}/handoff/answers"
    for headers in [
        signed(body, secret="not-the-shared-secret-but-long-enough-0123"),
        signed(body, at=time.time() - 301),  # outside the replay window
        {"Content-Type": "application/json"},
    ]:
        assert_problem(await client.post(url, content=body, headers=headers), 401)
    tampered = signed(body)
    assert_problem(await client.post(url, content=body + b" ", headers=tampered), 401)
    # Another organization (no centre configured) cannot answer for this one.
    other = f"/v1/orgs/{other_world.org_id}/handoff/answers"
    assert_problem(await client.post(other, content=body, headers=signed(body)), 401)
    assert [e.id for e in await events(sessionmaker, incident)] == before


async def test_the_printable_sheet_escapes_what_people_typed_and_is_logged(
    client: httpx.AsyncClient, world: World, centre: FakeCentre, sessionmaker: Maker
) -> None:
    incident = await handed_off(client, world, centre)
    async with unit_of_work(sessionmaker) as session:
        await session.execute(
            update(Elder)
            .where(Elder.id == world.elder_id)
            .values(address='<script>alert("x")</script> บ้านเลขที่ 12')
        )
    url = f"/v1/incidents/{incident}/handoff/sheet"
    thai = await client.get(url, headers=world.officer)
    assert thai.status_code == 200 and thai.headers["content-type"].startswith("text/html")
    assert "ใบส่งต่อเหตุฉุกเฉิน 1669" in thai.text and "Penicillin" in thai.text
    assert "<script" not in thai.text and "&lt;script&gt;" in thai.text
    assert "@page { size: A4" in thai.text and "http" not in thai.text.split("<body>")[0]
    english = await client.get(url, params={"lang": "en"}, headers=world.officer)
    assert "1669 emergency hand-off" in english.text and 'lang="en"' in english.text
    assert (await client.get(url, headers=world.responder)).status_code in (403, 404)
    async with sessionmaker() as session:
        rows = list(
            await session.scalars(
                select(MedicalAccess)
                .where(MedicalAccess.incident_id == uuid.UUID(incident))
                .where(MedicalAccess.what == "handoff")
                .order_by(MedicalAccess.id)
            )
        )
    # The record sent, then the two sheets viewed.
    assert len(rows) == 3 and all(r.user_id == world.officer_id for r in rows)
