"""The live channel against real `phikat serve` processes on loopback, with a real
WebSocket client: replay, resume, two processes, slow consumers, who sees what."""

import asyncio
import json
import random
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from core.db import create_engine, create_sessionmaker
from core.events.catalogue import EventName
from core.events.log import record_event
from core.settings import Settings
from core.uow import unit_of_work
from tests.dispatch_helpers import Scene, add_responder, sos
from tests.factories import World, add_elder, bearer
from tests.live_support import (
    ServerProcess,
    StalledClient,
    bearer_token,
    drain,
    events_until,
    next_event,
    open_live,
    running_server,
)

Maker = async_sessionmaker[AsyncSession]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def servers(settings: Settings) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two server processes on one database."""
    with running_server(settings) as a, running_server(settings) as b:
        yield a, b


@pytest.fixture
def server(servers: tuple[ServerProcess, ServerProcess]) -> ServerProcess:
    return servers[0]


async def tick(
    sessionmaker: Maker, world: World, incident_id: str, count: int, *, pad: int = 0
) -> None:
    """Commit ``count`` position events on an incident, in one transaction."""
    async with unit_of_work(sessionmaker) as session:
        for n in range(count):
            data: dict[str, object] = {
                "lat": 16.885,
                "lon": 103.255,
                "accuracy_m": n,
                "recorded_at": "2026-11-21T00:00:00Z",
            }
            if pad:
                data["note"] = "x" * pad
            record_event(
                session,
                organization_id=world.org_id,
                incident_id=uuid.UUID(incident_id),
                name=EventName.ELDER_LOCATION,
                data=data,
            )


async def test_a_bad_hello_closes_with_4401(server: ServerProcess, world: World) -> None:
    for first_frame in (
        "not json",
        json.dumps({"type": "subscribe"}),
        json.dumps({"type": "hello", "token": "garbage", "after": None}),
        json.dumps({"type": "hello", "token": "x", "after": -1}),
        json.dumps(
            {"type": "hello", "token": world.elder["Authorization"][7:], "after": "yesterday"}
        ),
    ):
        async with connect(server.ws) as ws:
            await ws.send(first_frame)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_a_hello_too_large_or_binary_is_refused_unparsed(
    server: ServerProcess, world: World
) -> None:
    token = bearer_token(world.officer)
    # Over the app's 8 KiB and under the server's 64 KiB: the app refuses it unparsed.
    padded = json.dumps({"type": "hello", "token": token, "after": None, "pad": "x" * 20_000})
    binary = json.dumps({"type": "hello", "token": token, "after": None}).encode()
    for first_frame in (padded, binary):
        async with connect(server.ws) as ws:
            await ws.send(first_frame)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)  # not a welcome
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    # Over 64 KiB: the server (uvicorn, ws_max_size) refuses it before assembling it.
    huge = json.dumps({"type": "hello", "token": token, "after": None, "pad": "x" * 100_000})
    async with connect(server.ws) as ws:
        await ws.send(huge)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


async def test_a_frame_too_large_after_the_hello_gets_an_error(
    server: ServerProcess, world: World
) -> None:
    ws, _ = await open_live(server.ws, world.officer)
    async with ws:
        await ws.send(json.dumps({"type": "receipt", "offer_id": "x" * 20_000}))
        error = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert error == {"type": "error", "detail": "frames are at most 8192 characters"}
        await ws.send(json.dumps({"type": "pong"}))  # the socket stays open
        await ws.send(json.dumps({"type": "nonsense"}))
        error = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert error["detail"] == "unknown frame type 'nonsense'"


async def test_no_per_message_deflate_is_negotiated(server: ServerProcess) -> None:
    """A client offering deflate (websockets does by default) gets plain frames: a
    socket holds no zlib state and no frame is compressed once per socket (issue 17)."""
    async with connect(server.ws) as ws:
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers


async def test_an_after_beyond_the_last_event_is_refused(
    server: ServerProcess, client: httpx.AsyncClient, world: World
) -> None:
    await sos(client, world)
    ws, welcome = await open_live(server.ws, world.officer)
    await ws.close()
    latest = welcome["last_event_id"]
    ws, _ = await open_live(server.ws, world.officer, after=latest)  # up to date: fine
    await ws.close()
    async with connect(server.ws) as ws:
        token = bearer_token(world.officer)
        await ws.send(json.dumps({"type": "hello", "token": token, "after": latest + 1}))
        error = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert error["type"] == "error" and error["last_event_id"] == latest, error
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400


async def test_an_sos_reaches_the_officer_in_order(
    server: ServerProcess, client: httpx.AsyncClient, world: World
) -> None:
    ws, welcome = await open_live(server.ws, world.officer)
    assert welcome["principal"]["kind"] == "officer"
    async with ws:
        incident = await sos(client, world)
        frames = await events_until(ws, lambda f: f["event"] == "offer.sent")
        assert [f["event"] for f in frames] == ["incident.opened", "offer.sent"]
        assert all(f["incident_id"] == incident for f in frames)
        assert frames[1]["id"] == frames[0]["id"] + 1 and frames[0]["at"].endswith("Z")


async def test_resuming_with_after_misses_nothing_and_doubles_nothing(
    server: ServerProcess, client: httpx.AsyncClient, world: World, sessionmaker: Maker
) -> None:
    incident = await sos(client, world)
    ws, welcome = await open_live(server.ws, world.officer)
    start = welcome["last_event_id"]
    await ws.close()

    async def produce() -> None:  # 1,000 events in 100 commits, while the client churns
        for _ in range(100):
            await tick(sessionmaker, world, incident, 10)
            await asyncio.sleep(0.005)

    producer = asyncio.create_task(produce())
    seen: list[int] = []
    rng = random.Random(7)
    async with asyncio.timeout(120):  # a lost event would otherwise mean reconnecting forever
        await read_with_reconnects(server, world, seen, start, rng)
    await producer
    assert seen == list(range(start + 1, start + 1001))


async def read_with_reconnects(
    server: ServerProcess, world: World, seen: list[int], start: int, rng: random.Random
) -> None:
    while len(seen) < 1000:
        # Unbounded client queue: with reading paused on a full queue, the client could
        # not see the server's close and would wait out its 10 s close timeout.
        ws, _ = await open_live(
            server.ws, world.officer, after=seen[-1] if seen else start, max_queue=None
        )
        async with ws:
            for _ in range(rng.randint(1, 150)):  # read a while, then drop the connection
                try:
                    seen.append((await next_event(ws, timeout=5))["id"])
                except TimeoutError:
                    break
                if len(seen) == 1000:
                    break


async def test_an_event_committed_through_one_process_reaches_a_socket_on_the_other(
    servers: tuple[ServerProcess, ServerProcess], world: World
) -> None:
    a, b = servers
    ws, _ = await open_live(b.ws, world.officer)
    async with ws, httpx.AsyncClient(base_url=a.http) as via_a:
        started = time.perf_counter()
        response = await via_a.post(
            "/v1/sos",
            json={"trigger": "fall"},
            headers={**world.elder, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code == 201
        frame = await next_event(ws)
        elapsed = time.perf_counter() - started
    assert frame["event"] == "incident.opened"
    assert frame["incident_id"] == response.json()["incident_id"]
    assert elapsed < 2.0  # NOTIFY, not the 5 s safety poll


def produce_in_a_thread(database_url: str, world: World, incident: str, commits: int) -> None:
    """Commit events from another thread and loop, so the readers here are not starved."""

    async def run() -> None:
        engine = create_engine(database_url, pool_size=1)
        try:
            for _ in range(commits):
                await tick(create_sessionmaker(engine), world, incident, 50, pad=4096)
        finally:
            await engine.dispose()

    asyncio.run(run())


async def test_a_stalled_client_is_cut_without_delaying_the_others(
    settings: Settings, client: httpx.AsyncClient, world: World
) -> None:
    env = {"PHIKAT_LIVE_QUEUE_BATCHES": "20", "PHIKAT_LIVE_SEND_TIMEOUT_S": "2"}
    incident = await sos(client, world)
    with running_server(settings, **env) as server:
        stalled = await StalledClient.connect(server.port, world.officer)
        healthy, welcome = await open_live(server.ws, world.officer)
        start = welcome["last_event_id"]
        seen: list[int] = []
        async with asyncio.timeout(120):
            started = time.perf_counter()
            producer = asyncio.create_task(
                asyncio.to_thread(produce_in_a_thread, settings.database_url, world, incident, 60)
            )
            while len(seen) < 3000:  # 60 commits of 50 events of ~4 KB: 12 MB per socket
                try:
                    # generous: on a loaded 2-core machine the producer thread competes
                    # for the GIL
                    seen.append((await next_event(healthy, timeout=30))["id"])
                except ConnectionClosed as closed:
                    # So loaded that the healthy reader fell behind too: it was told
                    # (1011) and resumes, as the apps do.
                    assert closed.rcvd is not None and closed.rcvd.code == 1011
                    resume = seen[-1] if seen else start
                    healthy, _ = await open_live(server.ws, world.officer, after=resume)
            healthy_time = time.perf_counter() - started
            await healthy.close()
            await producer
            assert await stalled.close_code(timeout=30) == 1011
    assert seen == list(range(start + 1, start + 3001))
    assert healthy_time < 30


async def test_who_sees_what_on_the_live_channel(
    server: ServerProcess,
    client: httpx.AsyncClient,
    world: World,
    other_world: World,
    sessionmaker: Maker,
    settings: Settings,
) -> None:
    scene = Scene(world)
    await add_responder(sessionmaker, settings, scene, "near", metres_north=100)
    await add_responder(sessionmaker, settings, scene, "bystander", metres_north=50_000)
    async with unit_of_work(sessionmaker) as session:
        _, _, other_elder_token = await add_elder(session, world.org_id, name="เพื่อนบ้าน")
    admin_token = (
        await client.post(
            "/v1/auth/token",
            data={"username": "admin@phikat.test", "password": "admin-password-for-tests"},
        )
    ).json()
    watchers = {
        "officer": world.officer,
        "other-officer": other_world.officer,
        "near": scene.headers["near"],
        "world": world.responder,
        "bystander": scene.headers["bystander"],
        "elder": world.elder,
        "other-elder": bearer(other_elder_token),
        "other-org-elder": other_world.elder,
    }
    sockets = {name: (await open_live(server.ws, headers))[0] for name, headers in watchers.items()}
    sockets["admin"] = (
        await open_live(
            server.ws,
            bearer(admin_token["access_token"]),
            hello_extra={"organization_id": str(world.org_id)},
        )
    )[0]
    incident = await sos(client, world)
    await client.post(f"/v1/incidents/{incident}/accept", headers=scene.headers["near"])
    await client.post(
        f"/v1/incidents/{incident}/locations",
        headers=scene.headers["near"],
        json={"lat": 16.8855, "lon": 103.255, "accuracy_m": 5},
    )
    await client.post(
        f"/v1/incidents/{incident}/locations",
        headers=world.elder,
        json={"lat": 16.885, "lon": 103.255, "accuracy_m": 12},
    )
    seen = {}
    for name, ws in sockets.items():
        seen[name] = [(f["event"], f["data"].get("responder_id")) for f in await drain(ws)]
        await ws.close()
    near, me = str(scene.responders["near"]), str(world.responder_id)
    everything = seen["officer"]
    assert [e for e, _ in everything] == [
        "incident.opened",
        "offer.sent",
        "offer.sent",
        "incident.accepted",
        "offer.withdrawn",
        "responder.location",
        "elder.location",
    ]
    assert seen["admin"] == everything
    assert seen["other-officer"] == seen["other-org-elder"] == []
    assert seen["bystander"] == [] and seen["other-elder"] == []
    # The winner: their own offer, the acceptance, their own track and the elder's position.
    assert seen["near"] == [
        ("incident.opened", None),
        ("offer.sent", near),
        ("incident.accepted", near),
        ("responder.location", near),
        ("elder.location", None),
    ]
    # The other offered responder learns that someone else took it, and nothing more.
    assert seen["world"] == [
        ("incident.opened", None),
        ("offer.sent", me),
        ("incident.accepted", near),
        ("offer.withdrawn", me),
    ]
    # The elder's phone: who is coming and where they are, no offers.
    assert seen["elder"] == [
        ("incident.opened", None),
        ("incident.accepted", near),
        ("responder.location", near),
        ("elder.location", None),
    ]


async def test_the_elder_sees_the_responder_coming_with_an_eta(
    server: ServerProcess, client: httpx.AsyncClient, world: World
) -> None:
    incident = await sos(client, world)
    await client.post(f"/v1/incidents/{incident}/accept", headers=world.responder)
    ws, _ = await open_live(server.ws, world.elder)
    async with ws:
        # ~1.1 km north of the elder's home, as a plain position report.
        await client.post(
            "/v1/responders/me/location",
            headers=world.responder,
            json={"lat": 16.895, "lon": 103.255, "accuracy_m": 8},
        )
        frame = await next_event(ws)
    assert frame["event"] == "responder.location"
    assert frame["data"]["distance_m"] == pytest.approx(1106, abs=5)
    assert frame["data"]["eta_s"] == pytest.approx(1106 / (30 / 3.6), abs=2)  # 30 km/h


async def test_receipts_over_the_socket_and_http_reach_the_officers(
    server: ServerProcess, client: httpx.AsyncClient, world: World, sessionmaker: Maker
) -> None:
    officer, _ = await open_live(server.ws, world.officer)
    responder, _ = await open_live(server.ws, world.responder)
    async with officer, responder:
        await sos(client, world)
        offer = await events_until(responder, lambda f: f["event"] == "offer.sent")
        offer_id = offer[-1]["data"]["offer_id"]
        await responder.send(json.dumps({"type": "receipt", "offer_id": offer_id}))
        frames = await events_until(officer, lambda f: f["event"] == "offer.received")
        assert frames[-1]["data"] == {
            "offer_id": offer_id,
            "responder_id": str(world.responder_id),
            "via": "live",
        }
        await responder.send(json.dumps({"type": "receipt", "offer_id": str(uuid.uuid4())}))
        error = json.loads(await asyncio.wait_for(responder.recv(), 5))
        while error["type"] != "error":
            error = json.loads(await asyncio.wait_for(responder.recv(), 5))
        assert error["detail"] == "no such offer"
    # The HTTP receipt is idempotent: the first receipt counts.
    again = await client.post(f"/v1/offers/{offer_id}/received", headers=world.responder)
    assert again.status_code == 204
    detail = await client.get(f"/v1/incidents/{offer[-1]['incident_id']}", headers=world.officer)
    (mine,) = [o for o in detail.json()["offers"] if o["id"] == offer_id]
    assert mine["received_at"] is not None
    assert [e["event"] for e in detail.json()["events"]].count("offer.received") == 1
    other = await client.post(f"/v1/offers/{offer_id}/received", headers=world.officer)
    assert other.status_code == 403


async def test_revoking_a_device_token_closes_its_socket(
    server: ServerProcess, client: httpx.AsyncClient, world: World
) -> None:
    ws, _ = await open_live(server.ws, world.elder)
    async with ws:
        started = time.perf_counter()
        revoked = await client.delete(
            f"/v1/elders/{world.elder_id}/device-tokens/{world.elder_token_id}",
            headers=world.officer,
        )
        assert revoked.status_code == 204
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        assert time.perf_counter() - started < 3


async def test_disabling_a_responder_closes_their_socket(
    server: ServerProcess, client: httpx.AsyncClient, world: World
) -> None:
    ws, _ = await open_live(server.ws, world.responder)
    async with ws:
        started = time.perf_counter()
        disabled = await client.post(
            f"/v1/users/{world.responder_id}/disable", headers=world.officer
        )
        assert disabled.status_code == 200
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        assert time.perf_counter() - started < 3
    refused = await connect(server.ws)
    async with refused:
        await refused.send(json.dumps({"type": "hello", "token": bearer_token(world.responder)}))
        with pytest.raises(ConnectionClosed) as again:
            await asyncio.wait_for(refused.recv(), 10)
        assert again.value.rcvd is not None and again.value.rcvd.code == 4401


async def test_heartbeats_keep_coming(settings: Settings, world: World) -> None:
    with running_server(settings, PHIKAT_LIVE_HEARTBEAT_S="0.3") as server:
        ws, _ = await open_live(server.ws, world.officer)
        async with ws:
            frames = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(3)]
    assert [f["type"] for f in frames] == ["ping"] * 3
