"""The people of a stress run: one organization, its officers, a care zone, responders on
duty around the elders, and elders with enrolled phones. Built over HTTP as the apps
would, except the organization and its first officer (the platform admin's job)."""

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import create_engine, create_sessionmaker
from core.security import create_access_token
from core.settings import Settings
from core.tenancy.models import Role
from core.tenancy.schemas import OrganizationCreate
from core.tenancy.service import create_organization, create_user
from core.uow import unit_of_work


def _zone(name: str, x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    feature = {
        "type": "Feature",
        "properties": {"name": name},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
    }
    return {"type": "FeatureCollection", "features": [feature]}


# The village: a ~3 km care zone. Elders live near its middle, responders around them.
ZONE = _zone("Village", 103.24, 16.87, 103.27, 16.90)
CENTRE = (16.885, 103.255)  # lat, lon
# One elder lives outside every zone: their SOS goes straight to the officers.
OUTSIDE_HOME = (16.95, 103.35)

# The shortest policy the validators allow: expiry, waves, escalation to the officers and
# the hand-off to 1669 all happen within a run of a minute.
STRESS_POLICY: dict[str, Any] = {
    "waves": [
        {"size": 3, "radius_m": 1500, "timeout_s": 10},
        {"size": 4, "radius_m": 5000, "timeout_s": 10},
    ],
    "officer_timeout_s": 10,
    "receipt_timeout_s": 5,
    "arrival_deadline_s": 60,
}
PASSWORD = "stress-password-123"


@dataclass
class Person:
    id: str
    token: str
    name: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class ElderPerson(Person):
    home: tuple[float, float] = CENTRE


@dataclass
class ResponderPerson(Person):
    spot: tuple[float, float] = CENTRE


@dataclass
class Scene:
    org_id: str
    zone_id: str
    officers: list[Person] = field(default_factory=list)
    responders: list[ResponderPerson] = field(default_factory=list)
    elders: list[ElderPerson] = field(default_factory=list)


def _staff_token(settings: Settings, user_id: uuid.UUID | str, role: Role, org: str) -> str:
    token, _ = create_access_token(
        secret=settings.secret_key.get_secret_value(),
        user_id=uuid.UUID(str(user_id)),
        role=role.value,
        organization_id=uuid.UUID(org),
        ttl_s=3600,
    )
    return token


async def _org_and_officers(
    sessionmaker: async_sessionmaker[AsyncSession], code: str, officers: int
) -> tuple[str, list[tuple[str, str]]]:
    async with unit_of_work(sessionmaker) as session:
        org = await create_organization(
            session, data=OrganizationCreate(name=f"Stress {code}", code=code)
        )
        made = []
        for n in range(officers):
            user = await create_user(
                session,
                organization_id=org.id,
                role=Role.OFFICER,
                name=f"Officer {n}",
                email=f"officer{n}@{code}.example.org",
                password=PASSWORD,
            )
            made.append((str(user.id), f"Officer {n}"))
    return str(org.id), made


def _near(rng: random.Random, centre: tuple[float, float], metres: float) -> tuple[float, float]:
    deg = metres / 110_600
    return (
        round(centre[0] + rng.uniform(-deg, deg), 6),
        round(centre[1] + rng.uniform(-deg, deg), 6),
    )


def _ok(response: httpx.Response, *, status: int) -> dict[str, Any]:
    if response.status_code != status:
        raise RuntimeError(
            f"setup: {response.request.method} {response.request.url} answered "
            f"{response.status_code}: {response.text[:500]}"
        )
    body: dict[str, Any] = response.json() if response.content else {}
    return body


async def build_scene(
    client: httpx.AsyncClient,
    base_url: str,
    settings: Settings,
    *,
    rng: random.Random,
    elders: int,
    responders: int,
    officers: int = 2,
) -> Scene:
    """Create the organization and everyone in it; every person gets a token."""
    code = f"stress-{uuid.uuid4().hex[:8]}"
    engine = create_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        org_id, officer_rows = await _org_and_officers(create_sessionmaker(engine), code, officers)
    finally:
        await engine.dispose()
    scene = Scene(org_id=org_id, zone_id="")
    for user_id, name in officer_rows:
        token = _staff_token(settings, user_id, Role.OFFICER, org_id)
        scene.officers.append(Person(user_id, token, name))
    boss = scene.officers[0].headers

    async def post(path: str, body: Any, headers: dict[str, str], status: int) -> dict[str, Any]:
        return _ok(
            await client.post(f"{base_url}{path}", json=body, headers=headers), status=status
        )

    _ok(
        await client.put(
            f"{base_url}/v1/orgs/{org_id}/dispatch-policy", json=STRESS_POLICY, headers=boss
        ),
        status=200,
    )
    zones = await post(f"/v1/orgs/{org_id}/zones", ZONE, boss, status=201)
    scene.zone_id = str(zones["ids"][0])
    for n in range(responders):
        made = await post(
            f"/v1/orgs/{org_id}/responders",
            {
                "name": f"Responder {n}",
                "email": f"r{n}@{code}.example.org",
                "password": PASSWORD,
                "phone": f"08{n:08d}",
                "kind": rng.choice(["volunteer", "caregiver", "care_manager", "rescue"]),
                "zone_ids": [scene.zone_id],
            },
            boss,
            status=201,
        )
        token = _staff_token(settings, made["id"], Role.RESPONDER, org_id)
        person = ResponderPerson(str(made["id"]), token, f"Responder {n}", _near(rng, CENTRE, 1200))
        _ok(
            await client.put(
                f"{base_url}/v1/responders/me/status",
                json={"on_duty": True},
                headers=person.headers,
            ),
            status=200,
        )
        lat, lon = person.spot
        await post(
            "/v1/responders/me/location",
            {"lat": lat, "lon": lon, "accuracy_m": 10},
            person.headers,
            status=204,
        )
        # A few phones' push tokens are refused by FCM: message.failed events, SMS fallback.
        fcm = f"{'unregistered-' if n % 7 == 3 else 'tok-'}{uuid.uuid4().hex}"
        await post(
            "/v1/devices", {"fcm_token": fcm, "platform": "android"}, person.headers, status=201
        )
        scene.responders.append(person)
    for n in range(elders):
        home = OUTSIDE_HOME if n == elders - 1 else _near(rng, CENTRE, 500)
        made = await post(
            f"/v1/orgs/{org_id}/elders",
            {
                "name": f"Elder {n}",
                "home": {"lat": home[0], "lon": home[1]},
                "dependency_group": 1 + n % 3,
                "conditions": ["hypertension"],
                "contacts": [{"name": "Daughter", "phone": f"09{n:08d}", "relation": "daughter"}],
            },
            boss,
            status=201,
        )
        device = await post(f"/v1/elders/{made['id']}/device-tokens", {}, boss, status=201)
        elder = ElderPerson(str(made["id"]), device["device_token"], f"Elder {n}", home)
        fcm = f"{'invalid-' if n % 5 == 2 else 'tok-'}{uuid.uuid4().hex}"
        await post(
            "/v1/devices", {"fcm_token": fcm, "platform": "android"}, elder.headers, status=201
        )
        scene.elders.append(elder)
    return scene
