"""Elders, their medical record and the device tokens of their phones."""

import uuid
from datetime import UTC, datetime

from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound, Unauthenticated
from core.principal import Principal, PrincipalKind
from core.security import new_device_token, opaque_secret_matches, parse_device_token
from core.signals import REVOCATIONS_CHANNEL, device_key, notify
from dispatch.inputs import Contact, ElderCreate
from dispatch.models import Elder, ElderDeviceToken
from dispatch.views import DeviceTokenOut, ElderOut, ElderSummary, PointOut
from geo.points import point_wkt


async def create_elder(
    session: AsyncSession, *, organization_id: uuid.UUID, data: ElderCreate
) -> Elder:
    elder = Elder(
        organization_id=organization_id,
        name=data.name,
        phone=data.phone,
        home=point_wkt(data.home.lon, data.home.lat),
        address=data.address,
        dependency_group=data.dependency_group,
        conditions=data.conditions,
        medications=data.medications,
        allergies=data.allergies,
        blood_type=data.blood_type,
        contacts=[c.model_dump() for c in data.contacts],
        language=data.language,
    )
    session.add(elder)
    await session.flush()
    await session.refresh(elder)
    return elder


async def get_elder(session: AsyncSession, elder_id: uuid.UUID) -> Elder:
    elder = await session.get(Elder, elder_id)
    if elder is None:
        raise NotFound("no such elder")
    return elder


async def list_elders(session: AsyncSession, organization_id: uuid.UUID) -> list[Elder]:
    rows = await session.scalars(
        select(Elder).where(Elder.organization_id == organization_id).order_by(Elder.name)
    )
    return list(rows)


def elder_home(elder: Elder) -> PointOut:
    pt = to_shape(elder.home)
    return PointOut(lat=pt.y, lon=pt.x)


def elder_summary(elder: Elder) -> ElderSummary:
    """The elder without medical facts or contacts (lists)."""
    return ElderSummary(
        id=elder.id,
        organization_id=elder.organization_id,
        name=elder.name,
        phone=elder.phone,
        home=elder_home(elder),
        address=elder.address,
        dependency_group=elder.dependency_group,
        language=elder.language,
        created_at=elder.created_at,
    )


def elder_out(elder: Elder) -> ElderOut:
    """The whole record, medical facts and contacts included: log the read
    (``dispatch.medical_access``)."""
    return ElderOut(
        **elder_summary(elder).model_dump(),
        conditions=elder.conditions,
        medications=elder.medications,
        allergies=elder.allergies,
        blood_type=elder.blood_type,
        contacts=[Contact.model_validate(c) for c in elder.contacts],
    )


async def issue_device_token(
    session: AsyncSession, *, elder: Elder, created_by: uuid.UUID | None, label: str | None
) -> DeviceTokenOut:
    token_id = uuid.uuid4()
    token, secret_hash = new_device_token(token_id)
    record = ElderDeviceToken(
        id=token_id,
        elder_id=elder.id,
        secret_hash=secret_hash,
        label=label,
        created_by_user_id=created_by,
    )
    session.add(record)
    await session.flush()
    await session.refresh(record)
    return DeviceTokenOut(
        id=record.id, elder_id=elder.id, device_token=token, created_at=record.created_at
    )


async def revoke_device_token(
    session: AsyncSession, *, elder_id: uuid.UUID, token_id: uuid.UUID
) -> None:
    record = await session.get(ElderDeviceToken, token_id, with_for_update={"key_share": True})
    if record is None or record.elder_id != elder_id:
        raise NotFound("no such device token for this elder")
    if record.revoked_at is None:
        record.revoked_at = datetime.now(UTC)
        # Live sockets opened with this token close at commit, on every server process.
        await notify(session, REVOCATIONS_CHANNEL, device_key(record.id))


async def authenticate_device(session: AsyncSession, token: str) -> Principal | None:
    """The principal of an elder device token, or None if it is not one."""
    parts = parse_device_token(token)
    if parts is None:
        return None
    row = (
        await session.execute(
            select(ElderDeviceToken, Elder.organization_id)
            .join(Elder, Elder.id == ElderDeviceToken.elder_id)
            .where(ElderDeviceToken.id == parts.token_id)
        )
    ).one_or_none()
    if row is None or not opaque_secret_matches(row[0].secret_hash, parts.secret):
        raise Unauthenticated("The device token is not valid.")
    record, organization_id = row
    if record.revoked_at is not None:
        raise Unauthenticated("This device token has been revoked; enrol the phone again.")
    return Principal(
        kind=PrincipalKind.ELDER_DEVICE,
        organization_id=organization_id,
        elder_id=record.elder_id,
        device_token_id=record.id,
    )
