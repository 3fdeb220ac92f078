"""The live channel's authorization matrix, against a real `phikat serve` process with a
real WebSocket client: who may connect, and which events of one incident each kind of
principal receives, live and on replay with ``after``.

Written from the policy (API.md "Live channel", dispatch/visibility.py): officers see
their whole organization; a responder the incidents they were offered or assigned, only
their own offers, positions only once assigned; an elder's device its own incidents,
who is coming and where, no offers; the escalation dossier (medical facts, contacts) is
for officers alone; another organization sees nothing; a bad hello is closed with 4401.
"""

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from core.security import create_access_token
from core.settings import Settings
from core.tenancy.models import Role
from tests.authz_scene import (
    ADMIN,
    ANONYMOUS,
    ASSIGNED,
    ELDER_A,
    ELDER_A_NAME,
    ELDER_B,
    MEDICAL,
    NOT_OFFERED,
    OFFERED,
    OFFICER_A,
    OFFICER_B,
    PRINCIPALS,
    AuthzScene,
    Cast,
    Maker,
    Outsiders,
    build_cast,
    build_outsiders,
    found,
    hash_each_password_once,
    start_incident,
)
from tests.factories import staff_token
from tests.live_support import ServerProcess, bearer_token, drain, events_until, running_server

pytestmark = pytest.mark.slow

Frame = dict[str, Any]
Seen = tuple[str, str | None]  # (event, whose: "assigned", "offered" or None)

# The scene's events as organization A's officers see them, in order.
EVERYTHING: list[Seen] = [
    ("incident.opened", None),
    ("offer.sent", "assigned"),
    ("offer.sent", "offered"),
    ("incident.accepted", "assigned"),
    ("offer.withdrawn", "offered"),
    ("offer.received", "offered"),
    ("responder.location", "assigned"),
    ("elder.location", None),
    ("incident.escalated", None),
    ("incident.resolved", None),
]
EXPECTED: dict[str, list[Seen]] = {
    ADMIN: EVERYTHING,
    OFFICER_A: EVERYTHING,
    OFFICER_B: [],
    # Their own offer, who took the incident, their own track and the elder's position.
    ASSIGNED: [
        ("incident.opened", None),
        ("offer.sent", "assigned"),
        ("incident.accepted", "assigned"),
        ("responder.location", "assigned"),
        ("elder.location", None),
        ("incident.escalated", None),
        ("incident.resolved", None),
    ],
    # Their own offer and its fate; no positions, nobody else's offer.
    OFFERED: [
        ("incident.opened", None),
        ("offer.sent", "offered"),
        ("incident.accepted", "assigned"),
        ("offer.withdrawn", "offered"),
        ("offer.received", "offered"),
        ("incident.escalated", None),
        ("incident.resolved", None),
    ],
    NOT_OFFERED: [],
    # Who is coming and where; no offers.
    ELDER_A: [
        ("incident.opened", None),
        ("incident.accepted", "assigned"),
        ("responder.location", "assigned"),
        ("elder.location", None),
        ("incident.escalated", None),
        ("incident.resolved", None),
    ],
    ELDER_B: [],
}
WATCHERS = tuple(p for p in PRINCIPALS if p != ANONYMOUS)
OFFICIALS = (ADMIN, OFFICER_A)


@pytest.fixture(scope="module", autouse=True)
def _fast_passwords() -> Iterator[None]:
    with hash_each_password_once():
        yield


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[ServerProcess]:
    with running_server(settings) as process:
        yield process


@pytest.fixture(scope="module")
async def outsiders(
    sessionmaker: Maker, settings: Settings, client: httpx.AsyncClient
) -> Outsiders:
    return await build_outsiders(sessionmaker, settings, client)


@pytest.fixture
async def cast(sessionmaker: Maker, settings: Settings, outsiders: Outsiders) -> Cast:
    return await build_cast(sessionmaker, settings, outsiders)


def hello(cast: Cast, principal: str, after: int | None) -> dict[str, Any]:
    frame = {"type": "hello", "token": bearer_token(cast.headers[principal]), "after": after}
    if principal == ADMIN:  # event ids are per organization: the admin names one
        frame["organization_id"] = str(cast.world.org_id)
    return frame


async def watch(url: str, first_frame: dict[str, Any]) -> tuple[ClientConnection, Frame]:
    ws = await connect(url)
    await ws.send(json.dumps(first_frame))
    welcome: Frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
    assert welcome["type"] == "welcome", welcome
    return ws, welcome


async def play_the_incident(
    sessionmaker: Maker, client: httpx.AsyncClient, cast: Cast
) -> AuthzScene:
    """SOS, two offers, an accept; then a receipt, positions, the 1669 hand-off (whose
    dossier carries the medical facts) and the resolution."""
    scene = await start_incident(sessionmaker, client, cast)
    url = f"/v1/incidents/{scene.incident_id}"
    steps: list[tuple[str, str, dict[str, Any] | None]] = [
        (OFFERED, f"/v1/offers/{scene.offer_id}/received", None),
        (ASSIGNED, f"{url}/locations", {"lat": 16.8855, "lon": 103.255, "accuracy_m": 5}),
        (ELDER_A, f"{url}/locations", {"lat": 16.885, "lon": 103.255, "accuracy_m": 12}),
        (OFFICER_A, f"{url}/escalate", None),
        (ASSIGNED, f"{url}/resolve", {"outcome": "treated_on_scene"}),
    ]
    for principal, path, body in steps:
        response = await client.post(path, json=body, headers=cast.headers[principal])
        assert response.status_code in (200, 204), response.text
    return scene


def seen(frames: list[Frame], scene: AuthzScene) -> list[Seen]:
    names = {str(scene.assigned_id): "assigned", str(scene.offered_id): "offered"}
    return [(f["event"], names.get(f["data"].get("responder_id"))) for f in frames]


async def collect(sockets: dict[str, ClientConnection]) -> dict[str, list[Frame]]:
    """Every principal's event frames until its socket stays quiet, all at once."""
    frames = await asyncio.gather(*(drain(ws, quiet_s=0.8) for ws in sockets.values()))
    for ws in sockets.values():
        await ws.close()
    return dict(zip(sockets, frames, strict=True))


async def test_each_principal_sees_exactly_its_part_of_the_incident(
    server: ServerProcess, client: httpx.AsyncClient, sessionmaker: Maker, cast: Cast
) -> None:
    opened = {p: await watch(server.ws, hello(cast, p, None)) for p in WATCHERS}
    live = {p: ws for p, (ws, _) in opened.items()}
    before = opened[OFFICER_A][1]["last_event_id"]  # the cursor just before the incident

    scene = await play_the_incident(sessionmaker, client, cast)
    officer_a_live = await events_until(
        live[OFFICER_A], lambda f: f["event"] == "incident.resolved"
    )
    by_live = await collect(live)
    by_live[OFFICER_A] = officer_a_live + by_live[OFFICER_A]
    replay = {p: (await watch(server.ws, hello(cast, p, before)))[0] for p in WATCHERS}
    by_replay = await collect(replay)

    for principal in WATCHERS:
        for frames in (by_live[principal], by_replay[principal]):
            assert seen(frames, scene) == EXPECTED[principal], principal
            assert all(f["incident_id"] == str(scene.incident_id) for f in frames), principal
            if principal not in OFFICIALS:
                assert_nothing_medical(frames)
    # The dossier did go out, to the officers: the checks above are not vacuous.
    officers_text = json.dumps(by_replay[OFFICER_A], ensure_ascii=False)
    assert found(officers_text, (ELDER_A_NAME, *MEDICAL)) == sorted((ELDER_A_NAME, *MEDICAL))


def assert_nothing_medical(frames: list[Frame]) -> None:
    """Neither the escalation dossier nor anything else about the elder's health."""
    assert found(json.dumps(frames, ensure_ascii=False), (ELDER_A_NAME, *MEDICAL)) == []
    for frame in frames:
        if frame["event"] == "incident.escalated":
            assert set(frame["data"]) <= {"level", "to", "reason", "fallback_phone"}


Refusal = Callable[[Cast, Outsiders, Settings], dict[str, Any]]


def with_token(token: str, **extra: Any) -> dict[str, Any]:
    return {"type": "hello", "token": token, "after": None, **extra}


REFUSED_HELLOS: dict[str, Refusal] = {
    "anonymous": lambda c, o, s: {"type": "hello", "after": None},
    "empty token": lambda c, o, s: with_token(""),
    "garbage token": lambda c, o, s: with_token("not-a-token"),
    "expired staff token": lambda c, o, s: with_token(
        staff_token(s, c.world.officer_id, Role.OFFICER, c.world.org_id, ttl_s=-60)
    ),
    "staff token signed with another secret": lambda c, o, s: with_token(
        create_access_token(
            secret="another-secret-0123456789abcdef0123456789",
            user_id=c.world.officer_id,
            role=Role.OFFICER.value,
            organization_id=c.world.org_id,
            ttl_s=600,
        )[0]
    ),
    "revoked device token": lambda c, o, s: with_token(c.spare_token),
    "disabled responder": lambda c, o, s: with_token(bearer_token(c.headers[NOT_OFFERED])),
    "officer B naming organization A": lambda c, o, s: with_token(
        bearer_token(o.officer_b), organization_id=str(c.world.org_id)
    ),
    "elder A's device naming organization B": lambda c, o, s: with_token(
        bearer_token(c.headers[ELDER_A]), organization_id=str(o.world_b.org_id)
    ),
    "admin naming no organization": lambda c, o, s: with_token(bearer_token(o.admin)),
}


@pytest.mark.parametrize("case", REFUSED_HELLOS)
async def test_a_hello_that_may_not_watch_is_closed_with_4401(
    case: str,
    server: ServerProcess,
    client: httpx.AsyncClient,
    cast: Cast,
    outsiders: Outsiders,
    settings: Settings,
) -> None:
    officer = cast.headers[OFFICER_A]
    revoked = await client.delete(
        f"/v1/elders/{cast.world.elder_id}/device-tokens/{cast.spare_token_id}", headers=officer
    )
    disabled = await client.post(
        f"/v1/users/{cast.helper.responders['far']}/disable", headers=officer
    )
    assert (revoked.status_code, disabled.status_code) == (204, 200)
    async with connect(server.ws) as ws:
        await ws.send(json.dumps(REFUSED_HELLOS[case](cast, outsiders, settings)))
        with pytest.raises(ConnectionClosed) as closed:
            frame = await asyncio.wait_for(ws.recv(), 10)
            pytest.fail(f"expected a close, got {frame!r}")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
