"""Organizations and staff accounts."""

import uuid

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound
from core.security import ARGON2, hash_password
from core.tenancy.models import Organization, Role, User
from core.tenancy.schemas import OrganizationCreate


async def create_organization(session: AsyncSession, *, data: OrganizationCreate) -> Organization:
    if await session.scalar(select(Organization.id).where(Organization.code == data.code)):
        raise Conflict(f"an organization with code {data.code!r} already exists")
    org = Organization(**data.model_dump())
    session.add(org)
    await _flush_or_conflict(session, f"an organization with code {data.code!r} already exists")
    return org


async def get_organization(session: AsyncSession, organization_id: uuid.UUID) -> Organization:
    org = await session.get(Organization, organization_id)
    if org is None:
        raise NotFound("no such organization")
    return org


async def get_organization_by_code(session: AsyncSession, code: str) -> Organization:
    org = await session.scalar(select(Organization).where(Organization.code == code))
    if org is None:
        raise NotFound(f"no organization with code {code!r}")
    return org


async def create_user(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID | None,
    role: Role,
    name: str,
    email: str,
    password: str,
    phone: str | None = None,
) -> User:
    """A staff account; the e-mail (its login) must be unused on the platform."""
    email = email.lower()
    if await session.scalar(select(User.id).where(User.email == email)):
        raise Conflict(f"the e-mail {email!r} is already registered")
    user = User(
        organization_id=organization_id,
        role=role,
        name=name,
        email=email,
        phone=phone,
        # Argon2 runs on its own threads, never on the event loop.
        password_hash=await ARGON2.run(hash_password, password),
    )
    session.add(user)
    await _flush_or_conflict(session, f"the e-mail {email!r} is already registered")
    return user


async def ensure_admin(session: AsyncSession, *, email: str, password: str) -> bool:
    """Create the platform admin unless one exists. True when it was created."""
    admins = await session.scalar(select(func.count()).where(User.role == Role.ADMIN))
    if admins:
        return False
    await create_user(
        session,
        organization_id=None,
        role=Role.ADMIN,
        name="Platform admin",
        email=email,
        password=password,
    )
    return True


async def _flush_or_conflict(session: AsyncSession, message: str) -> None:
    # The check before insert is for a clear message; the unique index is the
    # guard when two requests race.
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(message) from exc
