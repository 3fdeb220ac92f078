"""Organizations and staff accounts."""

import math
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound, TooManyRequests, Unauthenticated
from core.security import DUMMY_PASSWORD_HASH, hash_password, verify_password
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
        password_hash=hash_password(password),
    )
    session.add(user)
    await _flush_or_conflict(session, f"the e-mail {email!r} is already registered")
    return user


LOCK_AFTER_FAILURES = 5
FIRST_LOCK_S = 60
MAX_LOCK_S = 3600


class LoginFailed(Unauthenticated):
    """A wrong password for an existing account: the failure is counted."""

    def __init__(self, user_id: uuid.UUID) -> None:
        super().__init__("wrong e-mail or password")
        self.user_id = user_id


def lock_seconds(failures: int) -> int:
    """How long an account refuses logins after ``failures`` consecutive failures:
    none for the first four, then one minute, doubling up to an hour."""
    if failures < LOCK_AFTER_FAILURES:
        return 0
    return int(min(FIRST_LOCK_S * 2 ** (failures - LOCK_AFTER_FAILURES), MAX_LOCK_S))


async def authenticate(session: AsyncSession, *, email: str, password: str) -> User:
    user = await session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        verify_password(DUMMY_PASSWORD_HASH, password)
        raise Unauthenticated("wrong e-mail or password")
    now = datetime.now(UTC)
    if user.locked_until is not None and user.locked_until > now:
        wait = math.ceil((user.locked_until - now).total_seconds())
        raise TooManyRequests(f"too many failed logins; try again in {wait} s", retry_after_s=wait)
    if not verify_password(user.password_hash, password) or user.disabled_at is not None:
        raise LoginFailed(user.id)
    user.failed_logins, user.locked_until = 0, None
    return user


async def record_login_failure(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Count a failed login (in a transaction of its own: the login's is rolled back)."""
    user = await session.get(User, user_id, with_for_update=True)
    if user is None:
        return
    user.failed_logins += 1
    lock = lock_seconds(user.failed_logins)
    if lock:
        user.locked_until = datetime.now(UTC) + timedelta(seconds=lock)


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
