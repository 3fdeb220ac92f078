"""Staff sign-in sessions: short-lived access tokens renewed with rotating refresh tokens.

A refresh token is used once: each use marks it and issues a successor in the
same family. Shown again within ``grace_s`` (a phone on a weak signal that
never got the answer retries) it is rotated once more and the successor it
never received is revoked; shown again later it must have been copied, and
the whole family is revoked so the thief and the owner both sign in again.
"""

import enum
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from core.security import (
    REFRESH_TOKEN_PREFIX,
    new_opaque_token,
    opaque_secret_matches,
    parse_opaque_token,
)
from core.signals import REVOCATIONS_CHANNEL, notify, user_key
from core.tenancy.models import RefreshToken, User
from core.types import new_id


class RefreshRefused(enum.Enum):
    INVALID = "invalid"  # unknown, malformed, expired, revoked, or the account is disabled
    REUSED = "reused"  # a used token shown after the grace period: the family is now revoked


@dataclass(frozen=True)
class Refreshed:
    user: User
    refresh_token: str


async def issue_refresh_token(
    session: AsyncSession, *, user_id: uuid.UUID, ttl_s: int, family_id: uuid.UUID | None = None
) -> str:
    token_id = new_id()
    token, token_hash = new_opaque_token(REFRESH_TOKEN_PREFIX, token_id)
    session.add(
        RefreshToken(
            id=token_id,
            user_id=user_id,
            family_id=family_id or new_id(),
            token_hash=token_hash,
            expires_at=datetime.now(UTC) + timedelta(seconds=ttl_s),
        )
    )
    await session.flush()
    return token


async def _find(session: AsyncSession, token: str) -> RefreshToken | None:
    parts = parse_opaque_token(REFRESH_TOKEN_PREFIX, token)
    if parts is None:
        return None
    # FOR NO KEY UPDATE: no key changes, and the successor's foreign key is not held up.
    row = await session.get(RefreshToken, parts.token_id, with_for_update={"key_share": True})
    if row is None or not opaque_secret_matches(row.token_hash, parts.secret):
        return None
    return row


async def rotate_refresh_token(
    session: AsyncSession, *, token: str, ttl_s: int, grace_s: int
) -> Refreshed | RefreshRefused:
    """Trade a refresh token for its successor. A refusal that revokes a family is
    written in ``session`` too: the caller commits it even though it answers 401."""
    row = await _find(session, token)
    now = datetime.now(UTC)
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return RefreshRefused.INVALID
    if row.used_at is not None:
        if now - row.used_at > timedelta(seconds=grace_s):
            await revoke_family(session, row.family_id)
            return RefreshRefused.REUSED
        await _revoke_successors(session, row)
    user = await session.get(User, row.user_id)
    if user is None or user.disabled_at is not None:
        return RefreshRefused.INVALID
    row.used_at = row.used_at or now
    successor = await issue_refresh_token(
        session, user_id=user.id, ttl_s=ttl_s, family_id=row.family_id
    )
    return Refreshed(user=user, refresh_token=successor)


async def _revoke_successors(session: AsyncSession, row: RefreshToken) -> None:
    # A family is a chain with one unused link: the successor the client never got.
    await session.execute(
        update(RefreshToken)
        .where(
            RefreshToken.family_id == row.family_id,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(revoked_at=datetime.now(UTC))
    )


async def revoke_family(session: AsyncSession, family_id: uuid.UUID) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


async def sign_out(session: AsyncSession, *, token: str) -> bool:
    """Revoke the family of a refresh token (log out on this phone). False if unknown."""
    row = await _find(session, token)
    if row is None:
        return False
    await revoke_family(session, row.family_id)
    return True


async def revoke_user_sessions(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Every refresh token of the user stops working, and every live socket of theirs
    is closed by its process when this commits."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    await notify(session, REVOCATIONS_CHANNEL, user_key(user_id))
