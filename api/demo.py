"""Seeding the Tha Khantho demo organization through the same services the API uses."""

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api import demo_data
from core.security import hash_password
from core.tenancy.models import Organization, Role, User
from core.tenancy.schemas import OrganizationCreate
from core.tenancy.service import create_organization, create_user
from dispatch.elders import create_elder, issue_device_token
from dispatch.models import Elder
from dispatch.responders import create_responder, record_location, set_duty
from dispatch.schemas import Contact, ElderCreate, LocationIn, PointIn, ResponderCreate
from geo.service import import_zones

OFFICER_EMAIL = f"officer@{demo_data.ORG_CODE}.demo"


@dataclass(frozen=True)
class DemoLogins:
    officer_email: str
    password: str
    responder_emails: list[str]
    sample_device_token: str
    sample_elder: str
    created: bool


async def seed_demo(session: AsyncSession, *, password: str | None = None) -> DemoLogins:
    """Create the demo organization if it is missing, then reset the demo logins."""
    password = password or secrets.token_urlsafe(9)
    org = await session.scalar(select(Organization).where(Organization.code == demo_data.ORG_CODE))
    created = org is None
    if org is None:
        org = await _create(session, password)
    await session.execute(
        update(User)
        .where(User.organization_id == org.id, User.role.in_([Role.OFFICER, Role.RESPONDER]))
        .values(password_hash=hash_password(password))
    )
    responder_emails = list(
        await session.scalars(
            select(User.email)
            .where(User.organization_id == org.id, User.role == Role.RESPONDER)
            .order_by(User.email)
        )
    )
    elder = await session.scalar(
        select(Elder).where(Elder.organization_id == org.id).order_by(Elder.name).limit(1)
    )
    assert elder is not None
    token = await issue_device_token(session, elder=elder, created_by=None, label="demo")
    return DemoLogins(
        officer_email=OFFICER_EMAIL,
        password=password,
        responder_emails=responder_emails,
        sample_device_token=token.device_token,
        sample_elder=elder.name,
        created=created,
    )


async def _create(session: AsyncSession, password: str) -> Organization:
    org = await create_organization(
        session,
        data=OrganizationCreate(name=demo_data.ORG_NAME, code=demo_data.ORG_CODE),
    )
    await create_user(
        session,
        organization_id=org.id,
        role=Role.OFFICER,
        name="เจ้าหน้าที่สาธารณสุข (demo)",
        email=OFFICER_EMAIL,
        password=password,
        phone="043000000",
    )
    zones = demo_data.zones()
    ids = await import_zones(
        session,
        organization_id=org.id,
        document={"type": "FeatureCollection", "features": [z.feature() for z in zones]},
        repair=False,
    )
    zone_ids = {zone.name: zone_id for zone, zone_id in zip(zones, ids.ids, strict=True)}
    for e in demo_data.elders(zones):
        await create_elder(
            session,
            organization_id=org.id,
            data=ElderCreate(
                name=e.name,
                home=PointIn(lat=e.lat, lon=e.lon),
                dependency_group=e.dependency_group,
                conditions=e.conditions,
                medications=e.medications,
                allergies=e.allergies,
                blood_type=e.blood_type,
                contacts=[Contact(name=e.contact_name, phone=e.contact_phone, relation="ลูก")],
            ),
        )
    now = datetime.now(UTC)
    for r in demo_data.responders(zones):
        out = await create_responder(
            session,
            organization_id=org.id,
            data=ResponderCreate(
                name=r.name,
                email=r.email,
                password=password,
                phone=r.phone,
                kind=r.kind,
                skills=r.skills,
                zone_ids=[zone_ids[z] for z in r.zones],
            ),
        )
        await set_duty(session, responder_id=out.id, on_duty=True)
        await record_location(
            session,
            responder_id=out.id,
            location=LocationIn(lat=r.lat, lon=r.lon, accuracy_m=10, recorded_at=now),
        )
    return org
