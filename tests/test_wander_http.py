"""Safe zones and wander alerts end to end: HTTP, PostGIS, the outbox and the incident.

The simulator's fix sequences (tests/wander_sim.py, seeded) are posted in batches
through POST /v1/elders/me/positions; the server's clock for judging staleness is the
simulated one (dispatch.wander.detect.utcnow), so 24 hours run in seconds.
"""

import itertools
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.uow import unit_of_work
from dispatch.models import Incident
from dispatch.privacy.retention import purge_expired_trails
from dispatch.wander import detect
from dispatch.wander.models import ElderPosition
from notifications.models import OutboxMessage
from tests.factories import NORTH_HOME, World
from tests.helpers import assert_problem
from tests.wander_sim import SimFix, along_border, at_home, walk_away

RADIUS = 200.0
M_PER_DEG_LAT = 110_700.0


def lonlat(x: float, y: float) -> tuple[float, float]:
    lat = NORTH_HOME[0] + y / M_PER_DEG_LAT
    lon = NORTH_HOME[1] + x / (M_PER_DEG_LAT * math.cos(math.radians(NORTH_HOME[0])))
    return lat, lon


@pytest.fixture
def many_positions(app: FastAPI) -> Iterator[None]:
    original = app.state.settings
    app.state.settings = original.model_copy(update={"positions_per_min": 100_000})
    try:
        yield
    finally:
        app.state.settings = original


async def home_zone(client: httpx.AsyncClient, world: World, **extra: Any) -> dict[str, Any]:
    body = {"name": "Home", "kind": "circle", "circle": {"radius_m": RADIUS}, **extra}
    r = await client.post(
        f"/v1/elders/{world.elder_id}/safe-zones", json=body, headers=world.officer
    )
    assert r.status_code == 201, r.text
    zone: dict[str, Any] = r.json()
    return zone


async def post_track(
    client: httpx.AsyncClient,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    fixes: list[SimFix],
    *,
    batch: int = 20,
) -> list[tuple[datetime, dict[str, Any]]]:
    answers = []
    for i in range(0, len(fixes), batch):
        chunk = fixes[i : i + batch]
        now = chunk[-1].at + timedelta(seconds=5)
        monkeypatch.setattr(detect, "utcnow", lambda now=now: now)
        body = {"fixes": []}  # type: dict[str, list[dict[str, Any]]]
        for f in chunk:
            lat, lon = lonlat(f.x, f.y)
            body["fixes"].append(
                {
                    "lat": lat,
                    "lon": lon,
                    "accuracy_m": f.accuracy_m,
                    "captured_at": f.at.isoformat(),
                }
            )
        r = await client.post("/v1/elders/me/positions", json=body, headers=world.elder)
        assert r.status_code == 200, r.text
        answers.append((chunk[-1].at, r.json()))
    return answers


def start_of(hours: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(hours=hours, minutes=1)


async def wander_incidents(sm: async_sessionmaker[AsyncSession], world: World) -> list[Incident]:
    async with sm() as s:
        rows = await s.scalars(
            select(Incident).where(
                Incident.elder_id == world.elder_id, Incident.trigger == "wander"
            )
        )
        return list(rows)


async def test_a_phone_at_home_for_24_hours_raises_no_alert(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    many_positions: None,
) -> None:
    zone = await home_zone(client, world)
    fixes = at_home(start_of(24), hours=24, every_s=60, seed=14)
    answers = await post_track(client, world, monkeypatch, fixes, batch=60)
    states = {a["zones"][zone["id"]]["state"] for _, a in answers}
    assert "outside" not in states
    assert all(a["incident_id"] is None for _, a in answers)
    assert await wander_incidents(sessionmaker, world) == []


async def test_walking_away_alerts_family_and_officers_and_opens_an_incident_with_the_track(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    many_positions: None,
) -> None:
    zone = await home_zone(client, world)
    start = start_of(0.5)
    fixes = walk_away(start, minutes=20, every_s=30, seed=7)
    answers = await post_track(client, world, monkeypatch, fixes, batch=2)
    alerted = [(at, a) for at, a in answers if a["incident_id"]]
    assert len(alerted) == 1
    crossing = start + timedelta(seconds=RADIUS / (4 / 3.6))
    assert timedelta(0) < alerted[0][0] - crossing <= timedelta(seconds=300)
    incident_id = alerted[0][1]["incident_id"]
    assert answers[-1][1]["zones"][zone["id"]]["state"] == "outside"

    r = await client.get(f"/v1/incidents/{incident_id}", headers=world.officer)
    assert r.status_code == 200, r.text
    incident = r.json()
    assert incident["trigger"] == "wander"
    # The incident is at the last good fix, with the track since leaving as its trail.
    assert incident["location"]["lat"] > NORTH_HOME[0] - 0.01
    assert len(incident["trail"]) >= 4
    async with sessionmaker() as s:
        rows = await s.execute(
            select(OutboxMessage.kind, OutboxMessage.route, func.count())
            .where(OutboxMessage.incident_id == uuid.UUID(incident_id))
            .where(OutboxMessage.kind.in_(["wander_family", "wander"]))
            .group_by(OutboxMessage.kind, OutboxMessage.route)
        )
        kinds = {(k, route): n for k, route, n in rows}
    assert kinds == {("wander_family", "sms"): 1, ("wander", "push"): 1}


async def test_walking_along_the_border_does_not_flap(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    many_positions: None,
) -> None:
    zone = await home_zone(client, world)
    fixes = along_border(start_of(1), radius_m=RADIUS, minutes=60, every_s=30, seed=3)
    answers = await post_track(client, world, monkeypatch, fixes, batch=4)
    states = [a["zones"][zone["id"]]["state"] for _, a in answers]
    assert "outside" not in states
    assert sum(1 for a, b in itertools.pairwise(states) if a != b) <= 2
    assert await wander_incidents(sessionmaker, world) == []


async def test_late_fixes_are_ignored_and_stale_ones_are_unknown(
    client: httpx.AsyncClient,
    world: World,
    many_positions: None,
) -> None:
    zone = await home_zone(client, world)
    lat, lon = lonlat(0, 0)
    now = datetime.now(UTC)
    fix = {"lat": lat, "lon": lon, "accuracy_m": 20, "captured_at": now.isoformat()}
    r = await client.post("/v1/elders/me/positions", json=fix, headers=world.elder)
    assert r.status_code == 200, r.text
    assert r.json()["zones"][zone["id"]]["state"] == "inside"
    old = {**fix, "captured_at": (now - timedelta(minutes=1)).isoformat()}
    r = await client.post("/v1/elders/me/positions", json=old, headers=world.elder)
    assert r.json()["ignored_late"] == 1
    # A stale backlog fix (an hour old) cannot be newer than the one taken: late; and on a
    # fresh zone the same old fix makes the state unknown.
    r = await client.put(
        f"/v1/elders/{world.elder_id}/safe-zones/{zone['id']}",
        json={"name": "Home", "kind": "circle", "circle": {"radius_m": RADIUS}},
        headers=world.officer,
    )
    assert r.status_code == 200, r.text
    far_lat, far_lon = lonlat(2000, 0)
    stale = {
        "lat": far_lat,
        "lon": far_lon,
        "accuracy_m": 20,
        "captured_at": (now - timedelta(hours=1)).isoformat(),
    }
    r = await client.post("/v1/elders/me/positions", json={"fixes": [stale]}, headers=world.elder)
    assert r.json()["zones"][zone["id"]]["state"] == "unknown"
    assert r.json()["incident_id"] is None


async def test_active_hours_at_night_only(
    client: httpx.AsyncClient,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    many_positions: None,
) -> None:
    # Bangkok is UTC+7: 20:00-06:00 local is 13:00-23:00 UTC.
    zone = await home_zone(client, world, active_hours={"from": "20:00", "to": "06:00"})
    assert zone["active_hours"] == {"from": "20:00:00", "to": "06:00:00"}
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    day = today - timedelta(days=1) + timedelta(hours=5)  # 12:00 in Bangkok
    walk = walk_away(day, minutes=20, every_s=30, seed=7)
    answers = await post_track(client, world, monkeypatch, walk, batch=5)
    assert all(a["incident_id"] is None for _, a in answers)


async def test_zones_are_tenant_isolated_and_bad_input_is_a_problem(
    client: httpx.AsyncClient,
    world: World,
    other_world: World,
) -> None:
    zone = await home_zone(client, world)
    for method, path in [
        ("GET", f"/v1/elders/{world.elder_id}/safe-zones"),
        ("GET", f"/v1/elders/{world.elder_id}/safe-zones/{zone['id']}"),
        ("DELETE", f"/v1/elders/{world.elder_id}/safe-zones/{zone['id']}"),
    ]:
        assert_problem(await client.request(method, path, headers=other_world.officer), 404)
    r = await client.get(
        f"/v1/elders/{other_world.elder_id}/safe-zones/{zone['id']}", headers=other_world.officer
    )
    assert_problem(r, 404)
    bowtie = {
        "type": "Polygon",
        "coordinates": [
            [[103.25, 16.88], [103.26, 16.89], [103.26, 16.88], [103.25, 16.89], [103.25, 16.88]]
        ],
    }
    bad_bodies: list[Any] = [
        {"name": "x", "kind": "polygon", "area": bowtie},
        {"name": "x", "kind": "polygon", "area": {"type": "Point", "coordinates": [1, 2]}},
        {"name": "x", "kind": "circle", "circle": {"radius_m": -5}},
        {"name": "x", "kind": "circle"},
        {"name": "x", "kind": "circle", "circle": {"radius_m": 100}, "thresholds": {"dwell_s": 1}},
        {
            "name": "x",
            "kind": "circle",
            "circle": {"radius_m": 100},
            "active_hours": {"from": "25:00", "to": "06:00"},
        },
        [],
    ]
    for body in bad_bodies:
        r = await client.post(
            f"/v1/elders/{world.elder_id}/safe-zones", json=body, headers=world.officer
        )
        assert_problem(r, 422)
    for fix in [
        {},
        {"lat": 91, "lon": 0, "accuracy_m": 5, "captured_at": "2026-01-01T00:00Z"},
        {"fixes": []},
        {"lat": 1, "lon": 1, "accuracy_m": 5, "captured_at": "2099-01-01T00:00Z"},
        {"lat": 1, "lon": 1, "accuracy_m": 5, "captured_at": "yesterday"},
        "x",
    ]:
        r = await client.post("/v1/elders/me/positions", json=fix, headers=world.elder)
        assert_problem(r, 422)
    lat, lon = lonlat(0, 0)
    good = {"lat": lat, "lon": lon, "accuracy_m": 20, "captured_at": datetime.now(UTC).isoformat()}
    r = await client.post("/v1/elders/me/positions", json=good, headers=world.officer)
    assert_problem(r, 403)
    polygon = {
        "type": "Polygon",
        "coordinates": [
            [[103.25, 16.88], [103.26, 16.88], [103.26, 16.89], [103.25, 16.89], [103.25, 16.88]]
        ],
    }
    r = await client.post(
        f"/v1/elders/{world.elder_id}/safe-zones",
        json={"name": "Village", "kind": "polygon", "area": polygon},
        headers=world.officer,
    )
    assert r.status_code == 201, r.text
    r = await client.delete(
        f"/v1/elders/{world.elder_id}/safe-zones/{r.json()['id']}", headers=world.officer
    )
    assert r.status_code == 204


async def test_positions_are_rate_limited_per_device(
    client: httpx.AsyncClient, world: World
) -> None:
    lat, lon = lonlat(0, 0)
    start = datetime.now(UTC) - timedelta(minutes=1)
    codes = []
    for i in range(14):  # PHIKAT_POSITIONS_PER_MIN is 12
        at = (start + timedelta(seconds=i)).isoformat()
        fix = {"lat": lat, "lon": lon, "accuracy_m": 20, "captured_at": at}
        r = await client.post("/v1/elders/me/positions", json=fix, headers=world.elder)
        codes.append(r.status_code)
    assert codes[:12] == [200] * 12
    assert codes[12] == 429
    assert "Retry-After" in r.headers


async def test_retention_deletes_positions_received_before_the_cutoff(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    lat, lon = lonlat(0, 0)
    fix = {"lat": lat, "lon": lon, "accuracy_m": 20, "captured_at": datetime.now(UTC).isoformat()}
    r = await client.post("/v1/elders/me/positions", json=fix, headers=world.elder)
    assert r.status_code == 200, r.text
    async with unit_of_work(sessionmaker) as s:  # one of them received 31 days ago
        await s.execute(
            insert(ElderPosition).values(
                elder_id=world.elder_id,
                captured_at=datetime.now(UTC) - timedelta(days=31),
                received_at=datetime.now(UTC) - timedelta(days=31),
                lat=lat,
                lon=lon,
                accuracy_m=20,
            )
        )

    async def held() -> int:
        async with sessionmaker() as s:
            return int(
                await s.scalar(select(func.count()).where(ElderPosition.elder_id == world.elder_id))
                or 0
            )

    assert await held() == 2
    report = await purge_expired_trails(sessionmaker, retention_days=30)
    assert report.elder_positions >= 1
    assert await held() == 1
