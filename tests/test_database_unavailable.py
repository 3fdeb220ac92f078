"""While the database is unavailable every request is answered 503 problem+json with
Retry-After, an SOS within 2 s and with the number to call; nothing hangs; the service
comes back by itself. A real `phikat serve` reaches PostgreSQL through a TCP proxy that
the test turns off (connections refused) or makes silent (a host that vanished)."""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.engine import make_url
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from core.settings import Settings
from tests.factories import World
from tests.helpers import assert_problem
from tests.live_support import ServerProcess, bearer_token
from tests.tcp_proxy import Mode, TcpProxy

pytestmark = pytest.mark.slow

NATIONAL = "1555"  # a national default unlike the organizations' own 1669


@pytest.fixture
async def proxied(settings: Settings) -> AsyncIterator[tuple[TcpProxy, ServerProcess]]:
    url = make_url(settings.database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    # Started from a thread: it waits for readiness, and the proxy runs on this loop.
    server = await asyncio.to_thread(
        ServerProcess,
        settings,
        PHIKAT_DATABASE_URL=through_proxy,
        PHIKAT_NATIONAL_FALLBACK_PHONE=NATIONAL,
        PHIKAT_DB_WATCH_INTERVAL_S="0.2",
        PHIKAT_DB_WATCH_TIMEOUT_S="0.8",
    )
    try:
        yield proxy, server
    finally:
        await asyncio.to_thread(server.stop)
        await proxy.stop()


def sos_headers(device: dict[str, str]) -> dict[str, str]:
    return {**device, "Idempotency-Key": str(uuid.uuid4())}


async def timed_post(
    http: httpx.AsyncClient, path: str, **kwargs: object
) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await http.post(path, **kwargs)  # type: ignore[arg-type]
    return response, time.monotonic() - started


@pytest.mark.parametrize("outage", [Mode.REFUSE, Mode.SILENT])
async def test_while_the_database_is_away_an_sos_gets_503_with_the_number_to_call(
    proxied: tuple[TcpProxy, ServerProcess],
    world: World,
    sessionmaker: object,
    outage: Mode,
) -> None:
    proxy, server = proxied
    async with httpx.AsyncClient(base_url=server.http, timeout=30) as http:
        first = await http.post("/v1/sos", json={}, headers=sos_headers(world.elder))
        assert first.status_code == 201, first.text
        org_phone = first.json()["fallback_phone"]

        await proxy.set_mode(outage)
        key = sos_headers(world.elder)
        answer, took = await timed_post(http, "/v1/sos", json={"trigger": "fall"}, headers=key)
        body = assert_problem(answer, 503)
        assert took < 2.0, f"{outage}: the SOS waited {took:.2f} s"
        assert int(answer.headers["Retry-After"]) >= 1
        assert body["fallback_phone"] == org_phone
        assert org_phone in body["message"]

        # A phone this process never answered is told the national number.
        stranger = {"Authorization": f"Bearer phk_dev_{uuid.uuid4().hex}.secret"}
        unknown = await http.post("/v1/sos", json={}, headers=sos_headers(stranger))
        assert assert_problem(unknown, 503)["fallback_phone"] == NATIONAL
        assert_problem(await http.get("/v1/me", headers=world.officer), 503)
        # The live channel says "try again later", not "bad credentials".
        async with connect(server.ws) as ws:
            await ws.send(json.dumps({"type": "hello", "token": bearer_token(world.officer)}))
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 15)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        assert (await http.get("/readyz")).status_code == 503
        assert (await http.get("/healthz")).status_code == 200

        await proxy.set_mode(Mode.FORWARD)
        deadline = time.monotonic() + 20
        while True:
            retried = await http.post("/v1/sos", json={"trigger": "fall"}, headers=key)
            if retried.status_code != 503 or time.monotonic() > deadline:
                break
        # The phone's retry of the refused press goes through (it joins the open incident).
        assert retried.status_code == 200, retried.text
        assert retried.json()["incident_id"] == first.json()["incident_id"]
