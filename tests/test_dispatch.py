"""The dispatch engine on real PostGIS, driven through HTTP: waves, declines, expiry,
escalation, the accept race and every later move of an incident."""

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import Settings
from dispatch.deadlines import fire_due
from dispatch.enums import DeadlineKind
from dispatch.models import Offer
from notifications.models import OutboxMessage
from tests.dispatch_helpers import (
    DEG_PER_M,
    Scene,
    add_responder,
    event_names,
    events,
    fire_next,
    next_due,
    offers,
    set_on_duty,
    sos,
)
from tests.factories import NORTH_HOME, World
from tests.helpers import assert_problem

Maker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def scene(world: World, sessionmaker: Maker, settings: Settings) -> Scene:
    """The world's caregiver (~150 m, North team) plus responders at known distances."""
    s = Scene(world)
    await add_responder(sessionmaker, settings, s, "near", metres_north=100)
    await add_responder(sessionmaker, settings, s, "mid", metres_north=600)
    await add_responder(sessionmaker, settings, s, "far", metres_north=2_500)
    await add_responder(
        sessionmaker, settings, s, "team-far", metres_north=8_000, zone_names=("North",)
    )
    await add_responder(sessionmaker, settings, s, "off-duty", metres_north=50, on_duty=False)
    await add_responder(sessionmaker, settings, s, "very-far", metres_north=30_000)
    return s


def offered(scene: Scene, rows: list[Offer]) -> list[str]:
    return [scene.name_of(o.responder_id) for o in rows]


async def test_wave_one_offers_the_three_nearest_on_duty(
    client: httpx.AsyncClient, scene: Scene, sessionmaker: Maker
) -> None:
    incident = await sos(client, scene.world)
    rows = await offers(sessionmaker, incident)
    assert offered(scene, rows) == ["near", "world", "mid"]
    assert {o.wave for o in rows} == {1}
    assert all(o.state == "pending" for o in rows)
    assert rows[0].distance_m == pytest.approx(100, abs=2)
    assert all((o.expires_at - o.sent_at) == timedelta(seconds=60) for o in rows)
    assert await event_names(sessionmaker, incident) == ["incident.opened"] + ["offer.sent"] * 3


async def test_a_stale_fix_falls_back_to_the_responders_zone(
    client: httpx.AsyncClient, world: World, sessionmaker: Maker, settings: Settings
) -> None:
    scene = Scene(world)
    await set_on_duty(sessionmaker, world.responder_id, False)
    # Fresh fix 20 km away, not in the team: out of every wave's radius but the last.
    await add_responder(sessionmaker, settings, scene, "away", metres_north=9_000)
    # Stale fix 50 m away but a member of South's team: counted from South (adjacent, ~0 m).
    await add_responder(
        sessionmaker,
        settings,
        scene,
        "stale",
        metres_north=50,
        zone_names=("South",),
        fix_age=timedelta(hours=2),
    )
    incident = await sos(client, world)
    rows = await offers(sessionmaker, incident)
    assert offered(scene, rows) == ["stale"]
    assert rows[0].distance_m == pytest.approx(555, abs=30)  # home to South's edge


async def test_a_decline_offers_the_next_candidate_at_once(
    client: httpx.AsyncClient, scene: Scene, sessionmaker: Maker
) -> None:
    incident = await sos(client, scene.world)
    response = await client.post(f"/v1/incidents/{incident}/decline", headers=scene.headers["near"])
    assert response.status_code == 204
    rows = await offers(sessionmaker, incident)
    states = {scene.name_of(o.responder_id): (o.state, o.wave) for o in rows}
    assert states["near"] == ("declined", 1)
    assert states["team-far"] == ("pending", 1)  # the zone team comes before outsiders
    assert await event_names(sessionmaker, incident) == (
        ["incident.opened"] + ["offer.sent"] * 3 + ["offer.declined", "offer.sent"]
    )
    again = await client.post(f"/v1/incidents/{incident}/decline", headers=scene.headers["near"])
    assert again.status_code == 204  # a repeated tap changes nothing
    assert len(await offers(sessionmaker, incident)) == 4
    accept = await client.post(f"/v1/incidents/{incident}/accept", headers=scene.headers["near"])
    assert_problem(accept, 409, detail="declined")


async def test_expired_waves_widen_then_officers_then_the_fallback(
    client: httpx.AsyncClient, scene: Scene, sessionmaker: Maker
) -> None:
    incident = await sos(client, scene.world)
    expiry = DeadlineKind.OFFER_EXPIRY
    # No phone confirmed its push within 15 s: the three offers go out again by SMS.
    assert await fire_next(sessionmaker, scene.world, incident, DeadlineKind.RECEIPT) == 3
    assert (await event_names(sessionmaker, incident))[-3:] == ["offer.unreceived"] * 3
    assert (
        await fire_next(sessionmaker, scene.world, incident, expiry, early=timedelta(seconds=1))
        == 0
    )
    # Wave 1 expires; wave 2 opens, and its receipt checks (15 s after real now) are due
    # at this virtual moment too: 3 + 2.
    assert await fire_next(sessionmaker, scene.world, incident, expiry) == 5
    rows = await offers(sessionmaker, incident)
    waves = {scene.name_of(o.responder_id): (o.wave, o.state) for o in rows}
    assert waves["near"] == (1, "expired")
    assert waves["team-far"] == (2, "pending")
    assert waves["far"] == (2, "pending")
    assert "very-far" not in waves and "off-duty" not in waves

    # Wave 2 expires; wave 3 (10 km) finds nobody new; the officers are called.
    assert await fire_next(sessionmaker, scene.world, incident, expiry) == 2
    names = await event_names(sessionmaker, incident)
    assert names[-1] == "incident.escalated"
    escalation = (await events(sessionmaker, incident))[-1].data
    assert escalation == {"level": 1, "to": "officers", "reason": "no_responder_accepted"}

    timeout = DeadlineKind.OFFICER_TIMEOUT
    assert (
        await fire_next(sessionmaker, scene.world, incident, timeout, early=timedelta(seconds=1))
        == 0
    )
    assert await fire_next(sessionmaker, scene.world, incident, timeout) == 1
    handoff = (await events(sessionmaker, incident))[-1]
    assert handoff.name == "incident.escalated" and handoff.data["level"] == 2
    assert handoff.data["fallback_phone"] == "1669"
    dossier = handoff.data["handoff"]
    assert dossier["elder"]["medications"] == ["Amlodipine 5 mg"]
    assert dossier["elder"]["allergies"] == ["Penicillin"]
    assert dossier["location"] == {"lat": 16.885, "lon": 103.255}
    assert dossier["zone"] == "North" and dossier["responders_offered"] == 5
    detail = await client.get(f"/v1/incidents/{incident}", headers=scene.world.officer)
    assert detail.json()["escalation_level"] == 2
    assert (
        await fire_due(
            sessionmaker,
            now=datetime.now(UTC) + timedelta(hours=1),
            organization_id=scene.world.org_id,
        )
        == 0
    )  # nothing left to fire

    late = await client.post(f"/v1/incidents/{incident}/accept", headers=scene.headers["near"])
    assert late.status_code == 200, late.text  # a late yes still helps
    assert late.json()["state"] == "accepted"


async def test_twenty_simultaneous_accepts_have_exactly_one_winner(
    client: httpx.AsyncClient, world: World, sessionmaker: Maker, settings: Settings
) -> None:
    scene = Scene(world)
    for i in range(20):
        await add_responder(sessionmaker, settings, scene, f"r{i}", metres_north=50 + i * 10)
    policy = {"waves": [{"size": 25, "radius_m": 1000, "timeout_s": 60}]}
    assert (
        await client.put(
            f"/v1/orgs/{world.org_id}/dispatch-policy", json=policy, headers=world.officer
        )
    ).status_code == 200
    incident = await sos(client, world)
    assert len(await offers(sessionmaker, incident)) == 21  # 20 + the world's caregiver

    responses = await asyncio.gather(
        *(
            client.post(f"/v1/incidents/{incident}/accept", headers=scene.headers[f"r{i}"])
            for i in range(20)
        )
    )
    assert Counter(r.status_code for r in responses) == {200: 1, 409: 19}
    winner = next(r for r in responses if r.status_code == 200).json()
    for loser in (r for r in responses if r.status_code == 409):
        assert_problem(loser, 409, detail="already accepted")
    rows = await offers(sessionmaker, incident)
    assert Counter(o.state for o in rows) == {"accepted": 1, "withdrawn": 20}
    (accepted,) = [o for o in rows if o.state == "accepted"]
    assert str(accepted.responder_id) == winner["assigned_responder_id"]
    names = Counter(await event_names(sessionmaker, incident))
    assert names["incident.accepted"] == 1 and names["offer.withdrawn"] == 20
    # The winner now sees the medical details; a repeated tap is harmless.
    assert winner["elder"]["medical"]["allergies"] == ["Penicillin"]
    winner_name = scene.name_of(accepted.responder_id)
    again = await client.post(
        f"/v1/incidents/{incident}/accept", headers=scene.headers[winner_name]
    )
    assert again.status_code == 200


async def test_the_life_of_an_incident_and_illegal_moves(
    client: httpx.AsyncClient, scene: Scene, sessionmaker: Maker
) -> None:
    world = scene.world
    incident = await sos(client, world)
    url = f"/v1/incidents/{incident}"
    assert_problem(await client.post(f"{url}/arrive", headers=scene.headers["near"]), 403)
    assert_problem(await client.post(f"{url}/accept", headers=world.officer), 403)
    assert_problem(await client.post(f"{url}/accept", headers=scene.headers["very-far"]), 404)
    assert_problem(await client.post(f"{url}/accept", headers=world.elder), 403)

    assert (await client.post(f"{url}/accept", headers=scene.headers["near"])).status_code == 200
    assert_problem(await client.post(f"{url}/arrive", headers=scene.headers["mid"]), 403)
    on_scene = await client.post(f"{url}/arrive", headers=scene.headers["near"])
    assert on_scene.json()["state"] == "on_scene" and on_scene.json()["on_scene_at"]
    assert_problem(await client.post(f"{url}/arrive", headers=scene.headers["near"]), 409)
    assert_problem(
        await client.post(
            f"{url}/resolve", json={"outcome": "abducted"}, headers=scene.headers["near"]
        ),
        422,
    )
    resolved = await client.post(
        f"{url}/resolve",
        headers=scene.headers["near"],
        json={"outcome": "treated_on_scene", "note": "ความดันสูง"},
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["state"] == "resolved"
    assert resolved.json()["outcome"] == "treated_on_scene"
    # Closed: the responder no longer sees medical details; nothing moves any more.
    assert resolved.json()["elder"]["medical"] is None
    assert_problem(
        await client.post(f"{url}/cancel", json={"reason": "x"}, headers=world.officer),
        409,
        detail="resolved",
    )
    assert_problem(
        await client.post(f"{url}/resolve", json={"outcome": "false_alarm"}, headers=world.officer),
        409,
    )
    assert (await event_names(sessionmaker, incident))[-5:] == [
        "incident.accepted",
        "offer.withdrawn",
        "offer.withdrawn",
        "incident.on_scene",
        "incident.resolved",
    ]


async def test_cancel_by_the_elder_withdraws_every_offer(
    client: httpx.AsyncClient, scene: Scene, sessionmaker: Maker
) -> None:
    world = scene.world
    incident = await sos(client, world)
    assert_problem(
        await client.post(
            f"/v1/incidents/{incident}/cancel",
            json={"reason": "oops"},
            headers=scene.headers["near"],
        ),
        403,
    )
    assert_problem(
        await client.post(f"/v1/incidents/{incident}/cancel", json={}, headers=world.elder), 422
    )
    cancelled = await client.post(
        f"/v1/incidents/{incident}/cancel", json={"reason": "กดผิด"}, headers=world.elder
    )
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert {o.state for o in await offers(sessionmaker, incident)} == {"withdrawn"}
    assert_problem(
        await client.post(
            f"/v1/incidents/{incident}/resolve",
            json={"outcome": "false_alarm"},
            headers=world.officer,
        ),
        409,
        detail="cancelled",
    )
    assert_problem(
        await client.post(f"/v1/incidents/{incident}/accept", headers=scene.headers["near"]), 409
    )
    # After a cancel a new press opens a new incident.
    assert await sos(client, world) != incident


async def test_officer_assigns_and_reassigns_by_hand(
    client: httpx.AsyncClient, scene: Scene, other_world: World, sessionmaker: Maker
) -> None:
    world = scene.world
    incident = await sos(client, world)
    url = f"/v1/incidents/{incident}/assign"
    far = str(scene.responders["very-far"])
    assigned = await client.post(url, json={"responder_id": far}, headers=world.officer)
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["assigned_responder_id"] == far
    assert {o.state for o in await offers(sessionmaker, incident)} == {"withdrawn"}
    near = str(scene.responders["near"])
    reassigned = await client.post(url, json={"responder_id": near}, headers=world.officer)
    assert reassigned.json()["assigned_responder_id"] == near
    accepted = [e for e in await events(sessionmaker, incident) if e.name == "incident.accepted"]
    assert [e.data["by"] for e in accepted] == ["officer", "officer"]
    assert accepted[1].data["previous_responder_id"] == far
    assert_problem(
        await client.post(
            url, json={"responder_id": str(other_world.responder_id)}, headers=world.officer
        ),
        404,
    )
    assert_problem(
        await client.post(url, json={"responder_id": near}, headers=scene.headers["near"]), 403
    )
    assert_problem(
        await client.post(url, json={"responder_id": near}, headers=other_world.officer), 404
    )


async def test_an_accepted_responder_who_does_not_arrive_is_reported(
    client: httpx.AsyncClient, scene: Scene, sessionmaker: Maker
) -> None:
    incident = await sos(client, scene.world)
    await client.post(f"/v1/incidents/{incident}/accept", headers=scene.headers["mid"])
    arrival = DeadlineKind.ARRIVAL
    due = await next_due(sessionmaker, incident, arrival)
    accepted_at = (await events(sessionmaker, incident))[-1].created_at
    assert due - accepted_at == pytest.approx(timedelta(minutes=20), abs=timedelta(seconds=2))
    await fire_next(sessionmaker, scene.world, incident, arrival, early=timedelta(minutes=1))
    assert "incident.arrival_overdue" not in await event_names(sessionmaker, incident)
    await fire_next(sessionmaker, scene.world, incident, arrival)
    last = (await events(sessionmaker, incident))[-1]
    assert last.name == "incident.arrival_overdue"
    assert last.data["responder_id"] == str(scene.responders["mid"])


async def test_outside_every_zone_goes_to_officers_then_the_fallback(
    client: httpx.AsyncClient, scene: Scene, sessionmaker: Maker
) -> None:
    incident = await sos(client, scene.world, lat=13.75, lon=100.5)
    assert await offers(sessionmaker, incident) == []
    await fire_next(sessionmaker, scene.world, incident, DeadlineKind.OFFICER_TIMEOUT)
    levels = [
        e.data["level"]
        for e in await events(sessionmaker, incident)
        if e.name == "incident.escalated"
    ]
    assert levels == [1, 2]


async def test_staff_open_an_incident_on_an_elders_behalf(
    client: httpx.AsyncClient, scene: Scene, other_world: World, sessionmaker: Maker
) -> None:
    world = scene.world
    url = f"/v1/orgs/{world.org_id}/incidents"
    body = {"elder_id": str(world.elder_id), "lat": 16.8855, "lon": 103.2555, "note": "ลูกสาวโทรแจ้ง"}
    opened = await client.post(url, json=body, headers=world.officer)
    assert opened.status_code == 201, opened.text
    incident = opened.json()
    assert incident["trigger"] == "staff" and incident["location_source"] == "reported"
    assert incident["zone"]["name"] == "North" and len(incident["offers"]) == 3
    joined = await client.post(url, json=body, headers=scene.headers["near"])
    assert joined.status_code == 200 and joined.json()["id"] == incident["id"]
    half = {"elder_id": str(world.elder_id), "lat": 16.9}
    assert_problem(await client.post(url, json=half, headers=world.officer), 422)
    assert_problem(
        await client.post(url, json={"elder_id": str(other_world.elder_id)}, headers=world.officer),
        404,
    )
    assert_problem(await client.post(url, json=body, headers=world.elder), 403)
    assert_problem(await client.post(url, json=body, headers=other_world.officer), 403)


async def test_who_sees_what_of_an_incident(
    client: httpx.AsyncClient, scene: Scene, other_world: World, sessionmaker: Maker
) -> None:
    world = scene.world
    incident = await sos(client, world)
    url = f"/v1/incidents/{incident}"
    officer = (await client.get(url, headers=world.officer)).json()
    assert officer["elder"]["medical"]["conditions"] == ["ความดันโลหิตสูง"]
    assert len(officer["offers"]) == 3 and officer["events"][0]["event"] == "incident.opened"
    assert officer["fallback_phone"] == "1669"

    offered = (await client.get(url, headers=scene.headers["near"])).json()
    assert offered["elder"]["medical"] is None
    assert [o["responder_id"] for o in offered["offers"]] == [str(scene.responders["near"])]
    assert all(
        e["data"].get("responder_id") in (None, str(scene.responders["near"]))
        for e in offered["events"]
    )

    await client.post(f"{url}/accept", headers=scene.headers["near"])
    assigned = (await client.get(url, headers=scene.headers["near"])).json()
    assert assigned["elder"]["medical"]["allergies"] == ["Penicillin"]
    elder = (await client.get(url, headers=world.elder)).json()
    assert elder["elder"]["medical"] is None and elder["offers"] == []
    assert elder["responder"]["id"] == str(scene.responders["near"])
    assert elder["responder"]["location"]["lat"] == pytest.approx(16.8859, abs=1e-4)
    # A responder who lost the race still sees the incident they were offered, nothing more.
    loser = (await client.get(url, headers=scene.headers["mid"])).json()
    assert loser["elder"]["medical"] is None

    for headers in (
        scene.headers["very-far"],
        other_world.officer,
        other_world.elder,
        other_world.responder,
    ):
        assert_problem(await client.get(url, headers=headers), 404)
    assert_problem(await client.get(f"/v1/incidents/{uuid.uuid4()}", headers=world.officer), 404)


async def test_listing_incidents_and_my_offers(
    client: httpx.AsyncClient, scene: Scene, sessionmaker: Maker
) -> None:
    world = scene.world
    first = await sos(client, world)
    mine = await client.get("/v1/responders/me/offers", headers=scene.headers["near"])
    assert [o["incident_id"] for o in mine.json()] == [first]
    assert mine.json()[0]["elder_name"] and mine.json()[0]["offer"]["state"] == "pending"
    assert "medical" not in mine.text and "Penicillin" not in mine.text
    await client.post(
        f"/v1/incidents/{first}/cancel", json={"reason": "test"}, headers=world.officer
    )
    second = await sos(client, world)
    url = f"/v1/orgs/{world.org_id}/incidents"
    listed = await client.get(url, headers=world.officer)
    assert [i["id"] for i in listed.json()] == [second, first]
    only_open = await client.get(url, params={"state": "dispatching"}, headers=world.officer)
    assert [i["id"] for i in only_open.json()] == [second]
    zone = await client.get(
        url, params={"zone_id": str(world.zone_ids["South"])}, headers=world.officer
    )
    assert zone.json() == []
    assert_problem(await client.get(url, params={"state": "lost"}, headers=world.officer), 422)
    assert_problem(await client.get(url, headers=scene.headers["near"]), 403)
    assert_problem(await client.get("/v1/responders/me/offers", headers=world.officer), 403)


async def test_dispatch_policy_is_validated(client: httpx.AsyncClient, world: World) -> None:
    url = f"/v1/orgs/{world.org_id}/dispatch-policy"
    default = await client.get(url, headers=world.officer)
    assert default.json()["waves"][0] == {"size": 3, "radius_m": 1000.0, "timeout_s": 60}
    shrinking = {
        "waves": [
            {"size": 3, "radius_m": 5000, "timeout_s": 60},
            {"size": 3, "radius_m": 1000, "timeout_s": 60},
        ]
    }
    assert_problem(await client.put(url, json=shrinking, headers=world.officer), 422)
    assert_problem(await client.put(url, json={"waves": []}, headers=world.officer), 422)
    assert_problem(await client.put(url, json={}, headers=world.responder), 403)


async def test_a_saved_policy_applies_to_the_next_sos_though_the_old_one_was_read(
    client: httpx.AsyncClient, world: World, sessionmaker: Maker, settings: Settings
) -> None:
    """Policies are kept per process for a few seconds (issue 17); saving one forgets it."""
    scene = Scene(world)
    for i in range(3):
        await add_responder(sessionmaker, settings, scene, f"r{i}", metres_north=50 + i * 10)
    url = f"/v1/orgs/{world.org_id}/dispatch-policy"
    assert (await client.get(url, headers=world.officer)).json()["waves"][0]["size"] == 3
    one_at_a_time = {"waves": [{"size": 1, "radius_m": 1000, "timeout_s": 60}]}
    assert (await client.put(url, json=one_at_a_time, headers=world.officer)).status_code == 200
    assert len(await offers(sessionmaker, await sos(client, world))) == 1


@pytest.fixture
def eta_at_60(app: FastAPI) -> Iterator[None]:
    """The app's PHIKAT_ETA_SPEED_KMH at 60 for one test (starlette's State does not
    survive monkeypatch's undo)."""
    original = app.state.settings
    app.state.settings = original.model_copy(update={"eta_speed_kmh": 60})
    try:
        yield
    finally:
        app.state.settings = original


async def test_one_eta_speed_for_the_elders_message_and_the_map(
    client: httpx.AsyncClient,
    scene: Scene,
    sessionmaker: Maker,
    eta_at_60: None,
) -> None:
    """PHIKAT_ETA_SPEED_KMH sets the ETA in "help is coming" as it does on the live map
    (the message once assumed 30 km/h whatever the setting)."""
    world = scene.world
    incident = await sos(client, world)
    team_far = scene.responders["team-far"]  # 8 km north: 8 min at 60 km/h, 16 at 30
    assigned = await client.post(
        f"/v1/incidents/{incident}/assign",
        json={"responder_id": str(team_far)},
        headers=world.officer,
    )
    assert assigned.status_code == 200, assigned.text
    spot = {"lat": NORTH_HOME[0] + 8_000 * DEG_PER_M, "lon": NORTH_HOME[1], "accuracy_m": 10}
    moved = await client.post(
        f"/v1/incidents/{incident}/locations", json=spot, headers=scene.headers["team-far"]
    )
    assert moved.status_code == 204, moved.text
    (fix,) = [e for e in await events(sessionmaker, incident) if e.name == "responder.location"]
    async with sessionmaker() as session:
        (message,) = await session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.incident_id == uuid.UUID(incident),
                OutboxMessage.kind == "help_coming",
            )
        )
    assert fix.data["eta_s"] == pytest.approx(8 * 60, abs=5)
    minutes = round(fix.data["eta_s"] / 60)
    assert message.payload["body"].endswith(f"ถึงในประมาณ {minutes} นาที")
