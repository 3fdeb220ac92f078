"""Small factories that build test data through the real services."""

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.security import create_access_token
from core.settings import Settings
from core.tenancy.models import Role
from core.tenancy.schemas import OrganizationCreate
from core.tenancy.service import create_organization, create_user
from core.uow import unit_of_work
from dispatch.elders import create_elder, issue_device_token
from dispatch.inputs import ElderCreate, LocationIn, PointIn, ResponderCreate
from dispatch.responders import create_responder, record_location, set_duty
from geo.service import import_zones

PASSWORD = "correct-horse-battery"


def square(x0: float, y0: float, x1: float, y1: float) -> list[list[list[float]]]:
    return [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]


def feature(
    name: str, coordinates: Any, *, geometry_type: str = "Polygon", **props: Any
) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"name": name, **props},
        "geometry": {"type": geometry_type, "coordinates": coordinates},
    }


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def staff_token(
    settings: Settings, user_id: uuid.UUID, role: Role, org_id: uuid.UUID | None, ttl_s: int = 600
) -> str:
    token, _ = create_access_token(
        secret=settings.secret_key.get_secret_value(),
        user_id=user_id,
        role=role.value,
        organization_id=org_id,
        ttl_s=ttl_s,
    )
    return token


# North and South share the border at latitude 16.88.
NORTH = square(103.25, 16.88, 103.26, 16.89)
SOUTH = square(103.25, 16.87, 103.26, 16.88)
NORTH_HOME = (16.885, 103.255)  # lat, lon
# The world's responder: on duty, ~150 m from the elder's home, in North's team.
RESPONDER_SPOT = {"lat": 16.886, "lon": 103.256, "accuracy_m": 10.0}


@dataclass
class World:
    org_id: uuid.UUID
    org_code: str
    officer_id: uuid.UUID
    officer: dict[str, str]
    responder_id: uuid.UUID
    responder_email: str
    responder: dict[str, str]
    elder_id: uuid.UUID
    elder_token_id: uuid.UUID
    elder: dict[str, str]
    zone_ids: dict[str, uuid.UUID] = field(default_factory=dict)
    settings: Settings | None = None

    def staff(self, user_id: uuid.UUID, role: Role) -> dict[str, str]:
        assert self.settings is not None
        return bearer(staff_token(self.settings, user_id, role, self.org_id))


async def add_elder(
    session: AsyncSession,
    org_id: uuid.UUID,
    *,
    home: tuple[float, float] = NORTH_HOME,
    name: str = "ยายสมศรี ทดสอบ",
) -> tuple[uuid.UUID, uuid.UUID, str]:
    elder = await create_elder(
        session,
        organization_id=org_id,
        data=ElderCreate(
            name=name,
            home=PointIn(lat=home[0], lon=home[1]),
            dependency_group=2,
            conditions=["ความดันโลหิตสูง"],
            medications=["Amlodipine 5 mg"],
            allergies=["Penicillin"],
            blood_type="O+",
            contacts=[{"name": "ลูกสาว", "phone": "0812345678", "relation": "daughter"}],
        ),
    )
    token = await issue_device_token(session, elder=elder, created_by=None, label="test")
    return elder.id, token.id, token.device_token


async def build_world(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> World:
    code = f"org-{uuid.uuid4().hex[:10]}"
    async with unit_of_work(sessionmaker) as session:
        org = await create_organization(
            session, data=OrganizationCreate(name=f"Test {code}", code=code)
        )
        officer = await create_user(
            session,
            organization_id=org.id,
            role=Role.OFFICER,
            name="Officer",
            email=f"officer@{code}.example.org",
            password=PASSWORD,
        )
        zones = await import_zones(
            session,
            organization_id=org.id,
            document=collection(feature("North", NORTH), feature("South", SOUTH)),
            repair=False,
        )
        responder_email = f"cg@{code}.example.org"
        responder = await create_responder(
            session,
            organization_id=org.id,
            data=ResponderCreate(
                name="Caregiver",
                email=responder_email,
                password=PASSWORD,
                phone="0899999999",
                kind="caregiver",
                skills=["first_aid"],
                zone_ids=[zones.ids[0]],
            ),
        )
        await set_duty(session, responder_id=responder.id, on_duty=True)
        await record_location(
            session, responder_id=responder.id, location=LocationIn(**RESPONDER_SPOT)
        )
        elder_id, token_id, device_token = await add_elder(session, org.id)
    return World(
        org_id=org.id,
        org_code=code,
        officer_id=officer.id,
        officer=bearer(staff_token(settings, officer.id, Role.OFFICER, org.id)),
        responder_id=responder.id,
        responder_email=responder_email,
        responder=bearer(staff_token(settings, responder.id, Role.RESPONDER, org.id)),
        elder_id=elder_id,
        elder_token_id=token_id,
        elder=bearer(device_token),
        zone_ids={"North": zones.ids[0], "South": zones.ids[1]},
        settings=settings,
    )
