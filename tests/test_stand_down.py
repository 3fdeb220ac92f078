"""The responder on the way hears of it when they are no longer needed (cancel, resolve
by someone else, reassignment), and a responder dispatched by hand is woken as an
offer would wake them: a push in the transaction of the change."""

import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import Settings
from notifications.models import OutboxMessage
from tests.dispatch_helpers import Scene, add_responder, sos
from tests.factories import World

Maker = async_sessionmaker[AsyncSession]


@pytest.fixture
async def scene(world: World, sessionmaker: Maker, settings: Settings) -> Scene:
    s = Scene(world)
    await add_responder(sessionmaker, settings, s, "near", metres_north=100)
    await add_responder(sessionmaker, settings, s, "spare", metres_north=40_000)
    return s


async def pushes(sessionmaker: Maker, incident: str, kind: str) -> list[tuple[uuid.UUID, str]]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.incident_id == uuid.UUID(incident), OutboxMessage.kind == kind)
            .order_by(OutboxMessage.id)
        )
        return [(r.recipient_user_id, r.payload["body"]) for r in rows if r.recipient_user_id]


async def accepted_by_near(client: httpx.AsyncClient, scene: Scene) -> str:
    incident = await sos(client, scene.world)
    answer = await client.post(f"/v1/incidents/{incident}/accept", headers=scene.headers["near"])
    assert answer.status_code == 200, answer.text
    return incident


@pytest.mark.parametrize(
    ("action", "body", "words"),
    [
        ("cancel", {"reason": "family took her to hospital"}, "ยกเลิก"),
        ("resolve", {"outcome": "transported"}, "ปิดแล้ว"),
    ],
)
async def test_an_officer_closing_the_incident_stands_the_responder_down(
    client: httpx.AsyncClient,
    scene: Scene,
    sessionmaker: Maker,
    action: str,
    body: dict[str, str],
    words: str,
) -> None:
    incident = await accepted_by_near(client, scene)
    closed = await client.post(
        f"/v1/incidents/{incident}/{action}", json=body, headers=scene.world.officer
    )
    assert closed.status_code == 200, closed.text
    told = await pushes(sessionmaker, incident, "stand_down")
    assert [who for who, _ in told] == [scene.responders["near"]]
    assert words in told[0][1]


async def test_the_responder_who_resolves_is_not_told_to_stand_down(
    client: httpx.AsyncClient, scene: Scene, sessionmaker: Maker
) -> None:
    incident = await accepted_by_near(client, scene)
    near = scene.headers["near"]
    assert (await client.post(f"/v1/incidents/{incident}/arrive", headers=near)).status_code == 200
    resolved = await client.post(
        f"/v1/incidents/{incident}/resolve", json={"outcome": "treated_on_scene"}, headers=near
    )
    assert resolved.status_code == 200, resolved.text
    assert await pushes(sessionmaker, incident, "stand_down") == []


async def test_reassignment_wakes_the_new_responder_and_stands_the_old_one_down(
    client: httpx.AsyncClient, scene: Scene, sessionmaker: Maker
) -> None:
    incident = await accepted_by_near(client, scene)
    spare = scene.responders["spare"]
    moved = await client.post(
        f"/v1/incidents/{incident}/assign",
        json={"responder_id": str(spare)},
        headers=scene.world.officer,
    )
    assert moved.status_code == 200, moved.text
    assert [w for w, _ in await pushes(sessionmaker, incident, "stand_down")] == [
        scene.responders["near"]
    ]
    assigned = await pushes(sessionmaker, incident, "assigned")
    assert [w for w, _ in assigned] == [spare]
    assert "40.0 km" in assigned[0][1]
    async with sessionmaker() as session:
        row = await session.scalar(
            select(OutboxMessage).where(
                OutboxMessage.incident_id == uuid.UUID(incident), OutboxMessage.kind == "assigned"
            )
        )
    assert row is not None and row.payload["urgent"] is True
