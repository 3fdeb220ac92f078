"""Daily check-ins end to end: HTTP, the deadline worker, the outbox and the incident.

The server's clock is a simulated one (``dispatch.checkins.flow.utcnow``) and the worker
fires what is due at a simulated time (``fire_due(now=...)``), so a day runs in seconds.
The organization's time zone is Asia/Bangkok; the plan's times are local.
"""

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.events.models import IncidentEvent
from dispatch.checkins import flow
from dispatch.checkins.models import Checkin
from dispatch.deadlines import fire_due
from dispatch.enums import LocationSource, Trigger
from dispatch.models import Deadline, Incident, Offer
from notifications.models import OutboxMessage
from tests.dispatch_helpers import event_names
from tests.factories import World
from tests.helpers import assert_problem, db_fingerprint

Maker = async_sessionmaker[AsyncSession]
BANGKOK = ZoneInfo("Asia/Bangkok")


def local(hour: int, minute: int = 0, *, day: int = 0) -> datetime:
    """A local time in Bangkok on the simulated day ``day`` (0: 23 November 2026)."""
    return datetime(2026, 11, 23, hour, minute, tzinfo=BANGKOK) + timedelta(days=day)


@dataclass
class Clock:
    now: datetime


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clock]:
    simulated = Clock(local(5))
    monkeypatch.setattr(flow, "utcnow", lambda: simulated.now)
    yield simulated


@pytest.fixture
def many_taps(app: FastAPI) -> Iterator[None]:
    original = app.state.settings
    app.state.settings = original.model_copy(update={"positions_per_min": 100_000})
    try:
        yield
    finally:
        app.state.settings = original


async def advance(clock: Clock, sessionmaker: Maker, world: World, to: datetime) -> int:
    """Move the clock to ``to`` and fire every deadline of the organization due by then."""
    clock.now = to
    return await fire_due(sessionmaker, now=to, organization_id=world.org_id)


async def set_plan(client: httpx.AsyncClient, world: World, **body: Any) -> dict[str, Any]:
    r = await client.put(
        f"/v1/elders/{world.elder_id}/checkin-plan", json=body, headers=world.officer
    )
    assert r.status_code == 200, r.text
    plan: dict[str, Any] = r.json()
    return plan


async def check_in(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    *,
    path: str = "/v1/elders/me/checkins",
    key: str | None = None,
    **body: Any,
) -> dict[str, Any]:
    extra = {"Idempotency-Key": key} if key else {}
    r = await client.post(path, json=body, headers={**headers, **extra})
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def plan_status(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    r = await client.get(f"/v1/elders/{world.elder_id}/checkin-plan", headers=world.officer)
    assert r.status_code == 200, r.text
    status: dict[str, Any] = r.json()["status"]
    return status


async def sent(sessionmaker: Maker, world: World) -> list[str]:
    """The kinds of message queued about the elder (to their phone or their family)."""
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxMessage.kind)
            .where(OutboxMessage.recipient_elder_id == world.elder_id)
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
        )
        return list(rows)


async def checkin_incidents(sessionmaker: Maker, world: World) -> list[Incident]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(Incident).where(
                Incident.elder_id == world.elder_id, Incident.trigger == Trigger.CHECKIN_MISSED
            )
        )
        return list(rows)


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_a_check_in_on_time_settles_the_day(
    client: httpx.AsyncClient, world: World, sessionmaker: Maker, clock: Clock
) -> None:
    plan = await set_plan(client, world, times=["09:00"])
    assert plan["status"]["state"] == "ok"
    assert at(plan["status"]["due_at"]) == local(9)
    assert at(plan["status"]["window_opens_at"]) == local(6)

    await advance(clock, sessionmaker, world, local(8, 30))
    assert (await plan_status(client, world))["state"] == "due"
    out = await check_in(client, world.elder)
    assert out["verdict"] == "on_time"
    assert at(out["counted_for"]) == local(9)
    assert out["status"]["state"] == "ok"
    assert at(out["status"]["due_at"]) == local(9, day=1)

    # The day's reminders and alerts find the cycle settled: nothing is sent.
    await advance(clock, sessionmaker, world, local(10))
    assert await sent(sessionmaker, world) == []
    assert await checkin_incidents(sessionmaker, world) == []
    # Fired check-in deadlines are deleted: what is left is tomorrow's cycle.
    async with sessionmaker() as session:
        left = await session.scalars(
            select(Deadline.cycle_at).where(Deadline.elder_id == world.elder_id)
        )
        assert set(left) == {local(9, day=1)}


async def test_reminders_then_a_late_check_in_within_grace(
    client: httpx.AsyncClient, world: World, sessionmaker: Maker, clock: Clock
) -> None:
    await set_plan(client, world, times=["09:00", "18:00"], grace_s=900)
    await advance(clock, sessionmaker, world, local(8, 45))
    assert await sent(sessionmaker, world) == ["checkin_reminder"]
    await advance(clock, sessionmaker, world, local(9))
    assert await sent(sessionmaker, world) == ["checkin_reminder"] * 2
    status = await plan_status(client, world)
    assert status["state"] == "due" and status["late"] is False

    await advance(clock, sessionmaker, world, local(9, 10))
    assert (await plan_status(client, world))["late"] is True
    out = await check_in(client, world.elder)
    assert out["verdict"] == "late" and at(out["counted_for"]) == local(9)
    assert at(out["status"]["due_at"]) == local(18)

    await advance(clock, sessionmaker, world, local(9, 40))
    assert await sent(sessionmaker, world) == ["checkin_reminder"] * 2  # no family alert
    assert await checkin_incidents(sessionmaker, world) == []


async def test_missed_family_then_incident_then_a_late_check_in_from_an_offline_phone(
    client: httpx.AsyncClient, world: World, sessionmaker: Maker, clock: Clock
) -> None:
    await set_plan(client, world, times=["09:00"], grace_s=900, family_wait_s=600)
    await advance(clock, sessionmaker, world, local(9, 14))
    assert await checkin_incidents(sessionmaker, world) == []

    # The grace period passes: the family first (SMS: the contact has no LINE link),
    # and one more, urgent, reminder to the elder's phone.
    await advance(clock, sessionmaker, world, local(9, 15))
    assert sorted((await sent(sessionmaker, world))[-2:]) == [
        "checkin_missed_family",
        "checkin_reminder",
    ]
    listed = await client.get(f"/v1/orgs/{world.org_id}/checkins", headers=world.officer)
    assert listed.status_code == 200
    (row,) = listed.json()
    assert row["elder_id"] == str(world.elder_id) and row["status"]["state"] == "missed"
    assert await checkin_incidents(sessionmaker, world) == []

    # Then, after the second period, an incident at home through the normal dispatch.
    await advance(clock, sessionmaker, world, local(9, 25))
    (incident,) = await checkin_incidents(sessionmaker, world)
    assert incident.location_source is LocationSource.HOME
    assert incident.note == "check-in missed: due 09:00"
    async with sessionmaker() as session:
        offered = await session.scalar(
            select(func.count()).select_from(Offer).where(Offer.incident_id == incident.id)
        )
    assert offered and offered >= 1
    status = await plan_status(client, world)
    assert status["state"] == "missed" and status["incident_id"] == str(incident.id)
    assert at(status["due_at"]) == local(9, day=1)

    # The elder had tapped at 09:05, offline; the phone sends it at 09:40.
    clock.now = local(9, 40)
    out = await check_in(client, world.elder, captured_at=local(9, 5).isoformat())
    assert out["verdict"] == "late" and at(out["counted_for"]) == local(9)
    assert out["status"]["state"] == "ok" and out["status"]["incident_id"] is None
    assert "checkin.received" in await event_names(sessionmaker, str(incident.id))
    assert (await sent(sessionmaker, world))[-1] == "checkin_after_all"


async def test_a_caregiver_checks_in_on_the_elders_behalf_and_the_family_hears(
    client: httpx.AsyncClient, world: World, sessionmaker: Maker, clock: Clock
) -> None:
    await set_plan(client, world, times=["09:00"], tell_family_on_checkin=True)
    clock.now = local(8, 50)
    out = await check_in(
        client, world.responder, path=f"/v1/elders/{world.elder_id}/checkins", note="ตรวจเยี่ยม"
    )
    assert out["verdict"] == "on_time"
    async with sessionmaker() as session:
        row = await session.get(Checkin, uuid.UUID(out["id"]))
    assert row is not None and row.by_user_id == world.responder_id
    assert await sent(sessionmaker, world) == ["checkin_done"]
    await advance(clock, sessionmaker, world, local(10))
    assert await sent(sessionmaker, world) == ["checkin_done"]


async def test_a_holiday_pause_silences_the_plan_until_its_end(
    client: httpx.AsyncClient, world: World, sessionmaker: Maker, clock: Clock
) -> None:
    await set_plan(client, world, times=["09:00"])  # today's deadlines are scheduled
    paused = await set_plan(
        client, world, times=["09:00"], paused_until=local(12, day=2).isoformat()
    )
    assert paused["status"]["state"] == "paused"
    assert at(paused["status"]["due_at"]) == local(9, day=3)
    for day in range(3):
        await advance(clock, sessionmaker, world, local(12, day=day))
    assert await sent(sessionmaker, world) == []
    assert await checkin_incidents(sessionmaker, world) == []
    # The pause over, the next day counts again.
    await advance(clock, sessionmaker, world, local(9, 30, day=3))
    assert "checkin_missed_family" in await sent(sessionmaker, world)
    assert len(await checkin_incidents(sessionmaker, world)) == 1


async def test_the_phones_activity_resets_an_inactivity_timer(
    client: httpx.AsyncClient, world: World, sessionmaker: Maker, clock: Clock
) -> None:
    clock.now = local(8)
    plan = await set_plan(client, world, inactivity_s=4 * 3600, reminder_before_s=0)
    assert at(plan["status"]["due_at"]) == local(12)
    clock.now = local(11)
    r = await client.post("/v1/elders/me/activity", json={}, headers=world.elder)
    assert r.status_code == 204, r.text
    assert at((await plan_status(client, world))["due_at"]) == local(15)
    await advance(clock, sessionmaker, world, local(12, 30))
    assert await sent(sessionmaker, world) == []
    await advance(clock, sessionmaker, world, local(15, 15))
    assert "checkin_missed_family" in await sent(sessionmaker, world)
    clock.now = local(15, 20)
    r = await client.post("/v1/elders/me/activity", json={}, headers=world.elder)
    assert r.status_code == 204
    assert (await sent(sessionmaker, world))[-1] == "checkin_after_all"
    status = await plan_status(client, world)
    assert status["state"] == "ok" and at(status["due_at"]) == local(19, 20)
    await advance(clock, sessionmaker, world, local(16))
    assert await checkin_incidents(sessionmaker, world) == []


async def test_a_phone_clock_running_fast_does_not_make_a_check_in_late(
    client: httpx.AsyncClient, world: World, clock: Clock
) -> None:
    await set_plan(client, world, times=["09:00"])
    clock.now = local(8, 59)
    out = await check_in(client, world.elder, captured_at=local(11).isoformat())
    assert out["verdict"] == "on_time" and at(out["captured_at"]) == local(8, 59)


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"times": ["09:00"], "inactivity_s": 7200}, "either"),
        ({}, "either"),
        ({"times": ["09:00:30"]}, "HH:MM"),
        ({"times": ["09:00", "09:00"]}, "twice"),
        ({"times": ["25:00"]}, "times"),
        ({"times": ["09:00"], "grace_s": 300, "family_wait_s": 600}, "shorter"),
        ({"times": ["09:00"], "paused_until": "2026-12-01T00:00:00"}, "time zone"),
        ({"times": ["09:00"], "colour": "red"}, "colour"),
        ({"times": ["09:00"], "paused_until": "9999-12-31T23:59:59Z"}, "within a year"),
    ],
)
async def test_a_bad_plan_is_422_and_changes_nothing(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    clock: Clock,
    body: dict[str, Any],
    needle: str,
) -> None:
    await set_plan(client, world, times=["09:00"])
    before = await db_fingerprint(sessionmaker)
    r = await client.put(
        f"/v1/elders/{world.elder_id}/checkin-plan", json=body, headers=world.officer
    )
    assert_problem(r, 422)
    assert needle in r.text
    assert await db_fingerprint(sessionmaker) == before


async def test_a_bad_check_in_is_422_and_changes_nothing(
    client: httpx.AsyncClient, world: World, sessionmaker: Maker, clock: Clock
) -> None:
    await set_plan(client, world, times=["09:00"])
    before = await db_fingerprint(sessionmaker)
    for body in ({"captured_at": "2026-11-23T08:00:00"}, {"captured_at": "yesterday"}, [1]):
        r = await client.post("/v1/elders/me/checkins", json=body, headers=world.elder)
        assert_problem(r, 422)
    assert await db_fingerprint(sessionmaker) == before


async def test_racing_retries_of_one_tap_store_one_check_in(
    client: httpx.AsyncClient, world: World, sessionmaker: Maker, clock: Clock, many_taps: None
) -> None:
    await set_plan(client, world, times=["09:00"], tell_family_on_checkin=True)
    clock.now = local(8, 55)
    for _ in range(5):
        headers = {**world.elder, "Idempotency-Key": str(uuid.uuid4())}
        answers = await asyncio.gather(
            *(
                client.post(
                    "/v1/elders/me/checkins",
                    json={},
                    headers=headers,
                )
                for _ in range(8)
            )
        )
        assert {r.status_code for r in answers} == {201}, [r.text for r in answers]
        assert len({r.json()["id"] for r in answers}) == 1
    async with sessionmaker() as session:
        stored = await session.scalar(
            select(func.count()).select_from(Checkin).where(Checkin.elder_id == world.elder_id)
        )
    assert stored == 5
    # The first tap counted for 09:00; the others came before tomorrow's window.
    assert await sent(sessionmaker, world) == ["checkin_done"]


async def test_a_check_in_racing_the_escalation_is_never_lost(
    client: httpx.AsyncClient, world: World, sessionmaker: Maker, clock: Clock
) -> None:
    """The tap and the worker's escalation race, again and again. Whichever wins, the
    family hears that the elder responded, and if an incident was opened (or joined)
    for the miss, the check-in is on its timeline."""

    async def count(name: str) -> int:
        async with sessionmaker() as session:
            n = await session.scalar(
                select(func.count())
                .select_from(IncidentEvent)
                .join(Incident, Incident.id == IncidentEvent.incident_id)
                .where(Incident.elder_id == world.elder_id, IncidentEvent.name == name)
            )
        return n or 0

    async def escalations() -> int:
        async with sessionmaker() as session:
            rows = await session.scalars(
                select(IncidentEvent.data)
                .join(Incident, Incident.id == IncidentEvent.incident_id)
                .where(
                    Incident.elder_id == world.elder_id,
                    IncidentEvent.name.in_(["incident.opened", "incident.joined"]),
                )
            )
            return sum(1 for data in rows if data.get("trigger") == "checkin_missed")

    outcomes = set()
    for day in range(8):
        clock.now = local(5, day=day)
        await set_plan(client, world, times=["09:00"], grace_s=900, family_wait_s=600)
        await advance(clock, sessionmaker, world, local(9, 15, day=day))
        before = (
            await escalations(),
            await count("checkin.received"),
            await sent(sessionmaker, world),
        )
        clock.now = local(9, 25, day=day)
        tap, _ = await asyncio.gather(
            client.post(
                "/v1/elders/me/checkins",
                json={"captured_at": local(9, 24, day=day).isoformat()},
                headers=world.elder,
            ),
            fire_due(sessionmaker, now=clock.now, organization_id=world.org_id),
        )
        assert tap.status_code == 201, tap.text
        escalated = await escalations() - before[0]
        received = await count("checkin.received") - before[1]
        assert escalated in (0, 1) and received == escalated
        assert (await sent(sessionmaker, world))[len(before[2]) :].count("checkin_after_all") == 1
        outcomes.add(escalated)
    assert outcomes  # which side won is up to the scheduler; both are correct
