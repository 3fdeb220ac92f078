"""The authorization matrix's scene: organization A in the middle of an incident, and
every kind of principal that may (or may not) look at it.

Elder A pressed SOS; two responders were offered it; "assigned" accepted, so the
other offer ("offered") was withdrawn; "not offered" is on duty 50 km away and was
never offered. Elder B is another elder of organization A. Officer B belongs to
organization B, which has a world of its own. Every principal holds a real token:
staff JWTs, elder device tokens issued by the service, the admin's from a real login.
"""

import functools
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import core.tenancy.service
from core.security import hash_password
from core.settings import Settings
from core.uow import unit_of_work
from dispatch.checkins.inputs import CheckinPlanIn
from dispatch.checkins.plans import save_plan
from dispatch.elders import create_elder, issue_device_token
from dispatch.enums import OfferState
from dispatch.inputs import ElderCreate, PointIn
from dispatch.models import Elder
from dispatch.wander.inputs import CircleIn, SafeZoneIn
from dispatch.wander.zones import save_zone
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.dispatch_helpers import Scene, add_responder, offers, sos
from tests.factories import NORTH_HOME, World, bearer, build_world

Maker = async_sessionmaker[AsyncSession]

ADMIN = "admin"
OFFICER_A = "officer_a"
OFFICER_B = "officer_b"
OFFERED = "responder_offered"
NOT_OFFERED = "responder_not_offered"
ASSIGNED = "responder_assigned"
ELDER_A = "elder_a"
ELDER_B = "elder_b"
ANONYMOUS = "anonymous"
PRINCIPALS = (
    ADMIN,
    OFFICER_A,
    OFFICER_B,
    OFFERED,
    NOT_OFFERED,
    ASSIGNED,
    ELDER_A,
    ELDER_B,
    ANONYMOUS,
)
RESPONDERS = (OFFERED, NOT_OFFERED, ASSIGNED)
ELDERS = (ELDER_A, ELDER_B)

# Elder A's details (tests.factories.add_elder): the name, and what only officers and
# the assigned responder of an open incident may read.
ELDER_A_NAME = "ยายสมศรี ทดสอบ"
MEDICAL = ("ความดันโลหิตสูง", "Amlodipine", "Penicillin", "0812345678")


@dataclass(frozen=True)
class Outsiders:
    """The principals from outside organization A, built once per module."""

    admin: dict[str, str]
    world_b: World

    @property
    def officer_b(self) -> dict[str, str]:
        return self.world_b.officer


@dataclass(frozen=True)
class AuthzScene:
    world: World
    incident_id: uuid.UUID
    assigned_id: uuid.UUID
    not_offered_id: uuid.UUID
    offer_id: uuid.UUID  # the offered (not assigned) responder's withdrawn offer
    elder_b_id: uuid.UUID
    spare_token_id: uuid.UUID  # a second device token of elder A's, to revoke
    safe_zone_id: uuid.UUID  # elder A's safe zone (paths name it {zone_id} too)
    headers: dict[str, dict[str, str]]

    @property
    def org_id(self) -> uuid.UUID:
        return self.world.org_id

    @property
    def offered_id(self) -> uuid.UUID:
        return self.world.responder_id

    def path_params(self) -> dict[str, uuid.UUID]:
        """What each ``{name}`` in a route's path stands for in this scene."""
        return {
            "org_id": self.org_id,
            "incident_id": self.incident_id,
            "elder_id": self.world.elder_id,
            "token_id": self.spare_token_id,
            "zone_id": self.world.zone_ids["North"],
            "offer_id": self.offer_id,
            "user_id": self.not_offered_id,
        }

    def ids(self) -> set[str]:
        """Organization A's ids: none may reach organization B."""
        return {str(v) for v in self.path_params().values()} | {
            str(self.elder_b_id),
            str(self.assigned_id),
            str(self.offered_id),
            str(self.world.officer_id),
        }


@contextmanager
def hash_each_password_once() -> Iterator[None]:
    """Every scene creates staff accounts with the same password; Argon2 takes 0.1 s a
    hash, so each distinct password is hashed once (a real hash: logins still verify)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(core.tenancy.service, "hash_password", functools.cache(hash_password))
        yield


async def build_outsiders(
    sessionmaker: Maker, settings: Settings, client: httpx.AsyncClient
) -> Outsiders:
    login = await client.post(
        "/v1/auth/token", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert login.status_code == 200, login.text
    world_b = await build_world(sessionmaker, settings)
    return Outsiders(admin=bearer(login.json()["access_token"]), world_b=world_b)


@dataclass
class Cast:
    """Organization A's people, before anything has happened."""

    world: World
    helper: Scene
    elder_b_id: uuid.UUID
    spare_token_id: uuid.UUID
    spare_token: str
    safe_zone_id: uuid.UUID
    headers: dict[str, dict[str, str]]


async def build_cast(sessionmaker: Maker, settings: Settings, outsiders: Outsiders) -> Cast:
    world = await build_world(sessionmaker, settings)
    helper = Scene(world)
    await add_responder(sessionmaker, settings, helper, "assigned", metres_north=100)
    await add_responder(sessionmaker, settings, helper, "far", metres_north=50_000)
    async with unit_of_work(sessionmaker) as session:
        elder_b = await create_elder(
            session,
            organization_id=world.org_id,
            data=ElderCreate(
                name="ตาสมหมาย ข้างบ้าน",
                home=PointIn(lat=NORTH_HOME[0] + 0.001, lon=NORTH_HOME[1]),
                dependency_group=1,
                conditions=["เบาหวาน"],
                contacts=[{"name": "หลานชาย", "phone": "0865550000", "relation": "grandson"}],
            ),
        )
        token_b = await issue_device_token(session, elder=elder_b, created_by=None, label="B")
        elder_a = await session.get(Elder, world.elder_id)
        assert elder_a is not None
        spare = await issue_device_token(session, elder=elder_a, created_by=None, label="spare")
        safe_zone = await save_zone(
            session,
            elder_a,
            SafeZoneIn(name="บ้าน", kind="circle", circle=CircleIn(radius_m=200)),
        )
        await save_plan(session, elder_a, CheckinPlanIn(times=[time(9)]), now=datetime.now(UTC))
    headers = {
        ADMIN: outsiders.admin,
        OFFICER_A: world.officer,
        OFFICER_B: outsiders.officer_b,
        OFFERED: world.responder,
        NOT_OFFERED: helper.headers["far"],
        ASSIGNED: helper.headers["assigned"],
        ELDER_A: world.elder,
        ELDER_B: bearer(token_b.device_token),
        ANONYMOUS: {},
    }
    return Cast(world, helper, elder_b.id, spare.id, spare.device_token, safe_zone.id, headers)


async def start_incident(sessionmaker: Maker, client: httpx.AsyncClient, cast: Cast) -> AuthzScene:
    """Elder A's SOS, accepted by "assigned": the other offer is withdrawn."""
    incident = await sos(client, cast.world)
    accepted = await client.post(f"/v1/incidents/{incident}/accept", headers=cast.headers[ASSIGNED])
    assert accepted.status_code == 200, accepted.text
    assigned, far = cast.helper.responders["assigned"], cast.helper.responders["far"]
    states = {o.responder_id: (o.state, o.id) for o in await offers(sessionmaker, incident)}
    assert {r: s for r, (s, _) in states.items()} == {
        assigned: OfferState.ACCEPTED,
        cast.world.responder_id: OfferState.WITHDRAWN,
    }
    return AuthzScene(
        world=cast.world,
        incident_id=uuid.UUID(incident),
        assigned_id=assigned,
        not_offered_id=far,
        offer_id=states[cast.world.responder_id][1],
        elder_b_id=cast.elder_b_id,
        spare_token_id=cast.spare_token_id,
        safe_zone_id=cast.safe_zone_id,
        headers=cast.headers,
    )


async def build_scene(
    sessionmaker: Maker, settings: Settings, client: httpx.AsyncClient, outsiders: Outsiders
) -> AuthzScene:
    cast = await build_cast(sessionmaker, settings, outsiders)
    return await start_incident(sessionmaker, client, cast)


def found(text: str, needles: tuple[str, ...] | set[str]) -> list[str]:
    """Which of ``needles`` occur in ``text``, also when JSON escaped them (\\uXXXX)."""
    return sorted(n for n in needles if n in text or json.dumps(n)[1:-1] in text)
