"""Building dispatch scenes: responders at known distances from an elder, and time travel."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.events.models import IncidentEvent
from core.settings import Settings
from core.tenancy.models import Role
from core.uow import unit_of_work
from dispatch.deadlines import fire_due
from dispatch.enums import DeadlineKind, ResponderKind
from dispatch.inputs import LocationIn, ResponderCreate
from dispatch.models import Deadline, Offer, Responder
from dispatch.responders import create_responder, record_location, set_duty
from tests.factories import NORTH_HOME, World, bearer, staff_token

# Degrees of latitude per metre at 16.9 N (1° ≈ 110.6 km).
DEG_PER_M = 1 / 110_600


@dataclass
class Scene:
    world: World
    responders: dict[str, uuid.UUID] = field(default_factory=dict)
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def name_of(self, responder_id: str | uuid.UUID) -> str:
        wanted = uuid.UUID(str(responder_id))
        if wanted == self.world.responder_id:
            return "world"
        return next(n for n, rid in self.responders.items() if rid == wanted)


async def add_responder(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    scene: Scene,
    name: str,
    *,
    metres_north: float | None,
    zone_names: tuple[str, ...] = (),
    on_duty: bool = True,
    kind: str = "volunteer",
    fix_age: timedelta = timedelta(0),
) -> uuid.UUID:
    """A responder ``metres_north`` of the elder's home (None: no position known)."""
    world = scene.world
    async with unit_of_work(sessionmaker) as session:
        out = await create_responder(
            session,
            organization_id=world.org_id,
            data=ResponderCreate(
                name=name,
                email=f"{name}-{uuid.uuid4().hex[:6]}@{world.org_code}.example.org",
                password="responder-password",
                phone="0811111111",
                kind=ResponderKind(kind),
                zone_ids=[world.zone_ids[z] for z in zone_names],
            ),
        )
        await set_duty(session, responder_id=out.id, on_duty=on_duty)
        if metres_north is not None:
            await record_location(
                session,
                responder_id=out.id,
                location=LocationIn(
                    lat=NORTH_HOME[0] + metres_north * DEG_PER_M,
                    lon=NORTH_HOME[1],
                    accuracy_m=10,
                    recorded_at=datetime.now(UTC) - fix_age,
                ),
            )
    scene.responders[name] = out.id
    scene.headers[name] = bearer(staff_token(settings, out.id, Role.RESPONDER, world.org_id))
    return out.id


async def set_on_duty(
    sessionmaker: async_sessionmaker[AsyncSession], responder_id: uuid.UUID, on_duty: bool
) -> None:
    async with unit_of_work(sessionmaker) as session:
        await session.execute(
            update(Responder).where(Responder.id == responder_id).values(on_duty=on_duty)
        )


async def sos(client: httpx.AsyncClient, world: World, **body: Any) -> str:
    response = await client.post(
        "/v1/sos",
        json={"trigger": "button", **body},
        headers={**world.elder, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["incident_id"])


async def offers(sessionmaker: async_sessionmaker[AsyncSession], incident_id: str) -> list[Offer]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(Offer)
            .where(Offer.incident_id == uuid.UUID(incident_id))
            .order_by(Offer.sent_at, Offer.distance_m)
        )
        return list(rows)


async def event_names(
    sessionmaker: async_sessionmaker[AsyncSession], incident_id: str
) -> list[str]:
    return [e.name for e in await events(sessionmaker, incident_id)]


async def events(
    sessionmaker: async_sessionmaker[AsyncSession], incident_id: str
) -> list[IncidentEvent]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == uuid.UUID(incident_id))
            .order_by(IncidentEvent.id)
        )
        return list(rows)


async def next_due(
    sessionmaker: async_sessionmaker[AsyncSession], incident_id: str, kind: DeadlineKind
) -> datetime:
    """When the incident's next unfired deadline of ``kind`` is due."""
    async with sessionmaker() as session:
        due = await session.scalar(
            select(func.min(Deadline.due_at)).where(
                Deadline.incident_id == uuid.UUID(incident_id),
                Deadline.kind == kind,
                Deadline.fired_at.is_(None),
            )
        )
    assert due is not None, f"no {kind} deadline pending"
    return due


async def fire_next(
    sessionmaker: async_sessionmaker[AsyncSession],
    world: World,
    incident_id: str,
    kind: DeadlineKind,
    *,
    early: timedelta = timedelta(0),
) -> int:
    """Jump just past the next ``kind`` deadline of the incident (or ``early`` before it)
    and fire what is due then. Offers made while firing expire later: not fired now."""
    when = await next_due(sessionmaker, incident_id, kind) + timedelta(milliseconds=1) - early
    return await fire_due(sessionmaker, now=when, organization_id=world.org_id)
