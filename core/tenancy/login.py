"""Staff login: the lockout counter and the password check.

A login never holds a database connection while Argon2 runs, and never holds
two at once: one short transaction counts the attempt, the password is checked
on the Argon2 threads with no connection held, and a second short transaction
resets the counter and issues the refresh token.

The attempt is counted as a failure *before* the password is checked (a
success then resets the count). So the lockout cannot be outrun by guessing in
parallel: once five attempts are counted the account is locked, and the
attempts still arriving are refused without an Argon2 check. The counter is one
row per account; each transaction that touches it lasts a statement or two.
"""

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.errors import TooManyRequests, Unauthenticated
from core.security import ARGON2, DUMMY_PASSWORD_HASH, verify_password
from core.tenancy.models import Role, User
from core.tenancy.sessions import issue_refresh_token
from core.uow import in_transaction

LOCK_AFTER_FAILURES = 5
FIRST_LOCK_S = 60
MAX_LOCK_S = 3600
_MAX_COUNT = 32767  # failed_logins is a SMALLINT

WRONG_CREDENTIALS = "wrong e-mail or password"


def lock_seconds(failures: int) -> int:
    """How long an account refuses logins after ``failures`` consecutive failures:
    none for the first four, then one minute, doubling up to an hour."""
    if failures < LOCK_AFTER_FAILURES:
        return 0
    return int(min(FIRST_LOCK_S * 2 ** (failures - LOCK_AFTER_FAILURES), MAX_LOCK_S))


@dataclass(frozen=True)
class StaffLogin:
    """Who logged in, and their new refresh token."""

    user_id: uuid.UUID
    role: Role
    organization_id: uuid.UUID | None
    refresh_token: str


@dataclass(frozen=True)
class _Attempt:
    user_id: uuid.UUID
    password_hash: str
    disabled: bool


async def log_in(
    sessionmaker: async_sessionmaker[AsyncSession], *, email: str, password: str, refresh_ttl_s: int
) -> StaffLogin:
    """Check a staff e-mail and password; 401 when wrong, 429 while locked out."""
    email = email.strip().lower()
    with ARGON2.admit():
        attempt = await in_transaction(
            sessionmaker, lambda s: _count_attempt(s, email), what="count a login attempt"
        )
        if attempt is None:  # no such account: spend the same time as a wrong password
            await ARGON2.run(verify_password, DUMMY_PASSWORD_HASH, password)
            raise Unauthenticated(WRONG_CREDENTIALS)
        matches = await ARGON2.run(verify_password, attempt.password_hash, password)
    if not matches or attempt.disabled:
        raise Unauthenticated(WRONG_CREDENTIALS)  # already counted
    return await in_transaction(
        sessionmaker,
        lambda s: _succeed(s, attempt.user_id, refresh_ttl_s),
        what="log in",
    )


async def _count_attempt(session: AsyncSession, email: str) -> _Attempt | None:
    """Count the attempt as a failure, unless the account is locked (429).
    None when no account has this e-mail (never "locked": that would tell)."""
    now = datetime.now(UTC)
    counted = (
        await session.execute(
            update(User)
            .where(User.email == email, or_(User.locked_until.is_(None), User.locked_until <= now))
            .values(failed_logins=func.least(User.failed_logins + 1, _MAX_COUNT))
            .returning(User.id, User.password_hash, User.disabled_at, User.failed_logins)
        )
    ).one_or_none()
    if counted is None:
        locked_until = await session.scalar(select(User.locked_until).where(User.email == email))
        if locked_until is None:
            return None
        wait = max(1, math.ceil((locked_until - now).total_seconds()))
        raise TooManyRequests(f"too many failed logins; try again in {wait} s", retry_after_s=wait)
    lock = lock_seconds(counted.failed_logins)
    if lock:
        await session.execute(
            update(User)
            .where(User.id == counted.id)
            .values(locked_until=now + timedelta(seconds=lock))
        )
    return _Attempt(counted.id, counted.password_hash, counted.disabled_at is not None)


async def _succeed(session: AsyncSession, user_id: uuid.UUID, refresh_ttl_s: int) -> StaffLogin:
    user = (
        await session.execute(
            update(User)
            .where(User.id == user_id, User.disabled_at.is_(None))
            .values(failed_logins=0, locked_until=None)
            .returning(User.id, User.role, User.organization_id)
        )
    ).one_or_none()
    if user is None:  # disabled (or removed) while the password was being checked
        raise Unauthenticated(WRONG_CREDENTIALS)
    token = await issue_refresh_token(session, user_id=user.id, ttl_s=refresh_ttl_s)
    return StaffLogin(user.id, user.role, user.organization_id, token)
