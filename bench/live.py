"""Live channel: SOS-to-offer latency on a responder's socket, and fan-out to many officers.

1. A responder holds a WebSocket; elders press SOS one after another over HTTP.
   Measured per SOS: from sending the request to the `offer.sent` frame on the
   responder's socket (the whole path: intake, ranking, commit, NOTIFY, hub,
   filter, send), and from the HTTP answer to that frame (the live channel's share).
2. N officers hold sockets (default 1,000) on one server process; one SOS is
   committed; measured: when each socket got `incident.opened`, relative to the
   HTTP answer (p50, p99, and the last socket).

    scripts/bench live [--sos 200] [--officers 1000] [--servers 1]
"""

import argparse
import asyncio
import json
import time
import uuid

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench.common import Server, describe, scratch_database
from core.db import create_engine, create_sessionmaker
from core.security import create_access_token
from core.tenancy.models import Role
from core.tenancy.schemas import OrganizationCreate
from core.tenancy.service import create_organization, create_user
from dispatch.elders import create_elder, issue_device_token
from dispatch.enums import ResponderKind
from dispatch.inputs import ElderCreate, LocationIn, PointIn, ResponderCreate
from dispatch.responders import create_responder, record_location, set_duty
from geo.service import import_zones

SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
ZONE = {
    "type": "Feature",
    "properties": {"name": "Bench village"},
    "geometry": {
        "type": "Polygon",
        "coordinates": [
            [[103.2, 16.8], [103.3, 16.8], [103.3, 16.9], [103.2, 16.9], [103.2, 16.8]]
        ],
    },
}


async def seed(url: str, elders: int) -> tuple[list[str], str, str]:
    """Elders' device tokens, a responder's token and an officer's token."""
    engine = create_engine(url)
    async with create_sessionmaker(engine)() as session, session.begin():
        org = await create_organization(
            session, data=OrganizationCreate(name="Bench", code="bench")
        )
        zone_id = (
            await import_zones(session, organization_id=org.id, document=ZONE, repair=False)
        ).ids[0]
        responder = await create_responder(
            session,
            organization_id=org.id,
            data=ResponderCreate(
                name="Responder",
                email="r@bench.example.org",
                password="bench-password",
                phone="0800000000",
                kind=ResponderKind.CAREGIVER,
                zone_ids=[zone_id],
            ),
        )
        await set_duty(session, responder_id=responder.id, on_duty=True)
        await record_location(
            session, responder_id=responder.id, location=LocationIn(lat=16.85, lon=103.25)
        )
        officer = await create_user(
            session,
            organization_id=org.id,
            role=Role.OFFICER,
            name="Officer",
            email="o@bench.example.org",
            password="bench-password",
        )
        tokens = []
        for i in range(elders):
            elder = await create_elder(
                session,
                organization_id=org.id,
                data=ElderCreate(
                    name=f"Elder {i}",
                    home=PointIn(lat=16.81 + (i % 80) * 0.001, lon=103.21),
                    dependency_group=2,
                ),
            )
            tokens.append(
                (
                    await issue_device_token(session, elder=elder, created_by=None, label=None)
                ).device_token
            )
    await engine.dispose()

    def staff(user_id: uuid.UUID, role: Role) -> str:
        return create_access_token(
            secret=SECRET, user_id=user_id, role=role.value, organization_id=org.id, ttl_s=3600
        )[0]

    return tokens, staff(responder.id, Role.RESPONDER), staff(officer.id, Role.OFFICER)


async def hello(url: str, token: str) -> ClientConnection:
    ws = await connect(url, max_queue=None)
    await ws.send(json.dumps({"type": "hello", "token": token, "after": None}))
    welcome = json.loads(await ws.recv())
    assert welcome["type"] == "welcome", welcome
    return ws


async def wait_for_event(ws: ClientConnection, name: str, incident_id: str | None = None) -> float:
    while True:
        frame = json.loads(await ws.recv())
        if frame.get("event") == name and incident_id in (None, frame["incident_id"]):
            return time.perf_counter()


async def sos_to_offer(server: Server, elder_tokens: list[str], responder: str) -> None:
    ws = await hello(server.ws_url, responder)
    whole, live_part = [], []
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client, ws:
        for token in elder_tokens:
            started = time.perf_counter()
            response = await client.post(
                "/v1/sos",
                json={"trigger": "button"},
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())},
            )
            answered = time.perf_counter()
            assert response.status_code == 201, response.text
            arrived = await asyncio.wait_for(
                wait_for_event(ws, "offer.sent", response.json()["incident_id"]), 10
            )
            whole.append(arrived - started)
            live_part.append(max(arrived - answered, 0.0))
    print(describe("SOS sent -> offer on responder socket", whole))
    print(describe("SOS answered -> offer on socket", live_part))


async def fan_out(servers: list[Server], officer: str, trigger: str, officers: int) -> None:
    sockets = []
    for i in range(officers):  # spread over the server processes
        sockets.append(await hello(servers[i % len(servers)].ws_url, officer))
    async with httpx.AsyncClient(base_url=servers[0].base_url, timeout=30) as client:
        waiting = [asyncio.create_task(wait_for_event(ws, "incident.opened")) for ws in sockets]
        await asyncio.sleep(0.5)
        response = await client.post(
            "/v1/sos",
            json={"trigger": "fall"},
            headers={"Authorization": f"Bearer {trigger}", "Idempotency-Key": str(uuid.uuid4())},
        )
        answered = time.perf_counter()
        assert response.status_code == 201, response.text
        arrivals = await asyncio.wait_for(asyncio.gather(*waiting), 60)
    for ws in sockets:
        await ws.close()
    delays = [max(t - answered, 0.0) for t in arrivals]
    print(describe(f"fan-out to {officers} officers ({len(servers)} proc)", delays))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sos", type=int, default=200)
    parser.add_argument("--officers", type=int, default=1000)
    parser.add_argument("--servers", type=int, default=1)
    args = parser.parse_args()
    url = scratch_database("phikat_bench_live")
    elder_tokens, responder, officer = asyncio.run(seed(url, args.sos + 1))
    servers = [
        Server(url, PHIKAT_SECRET_KEY=SECRET, PHIKAT_RUN_WORKER="false")
        for _ in range(args.servers)
    ]
    try:
        asyncio.run(sos_to_offer(servers[0], elder_tokens[:-1], responder))
        asyncio.run(fan_out(servers, officer, elder_tokens[-1], args.officers))
    finally:
        for server in servers:
            server.stop()


if __name__ == "__main__":
    main()
