"""Linking a family contact's LINE account: an officer makes a one-time code for the
contact; the family member follows the organization's Official Account and sends the
code; the signed webhook finds the code and links the sender's LINE user id.

Codes are 8 characters from an alphabet without look-alikes (0/O, 1/I), shown as
``ABCD-2345``; case, spaces and dashes do not matter. 32^8 (about 10^12) codes, each
valid for ``PHIKAT_LINE_LINK_CODE_TTL_S`` and used once; only their SHA-256 is stored;
tries are rate-limited per LINE user (``TRIES``), so guessing one is hopeless.
"""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.rate_limit import Rate, take
from notifications.line_models import LineLink, LineLinkCode

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 8
# Code tries per LINE user: 5 at once, then one every 12 seconds.
TRIES = Rate(per_minute=5)


@dataclass(frozen=True)
class IssuedCode:
    code: str
    expires_at: datetime


@dataclass(frozen=True)
class Linked:
    elder_id: uuid.UUID
    phone: str


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:]}"


def normalize(text: str) -> str | None:
    """The code in a message, or None when the message is not shaped like one."""
    raw = "".join(text.split()).replace("-", "").upper()
    if len(raw) != CODE_LENGTH or any(c not in ALPHABET for c in raw):
        return None
    return raw


def code_hash(code: str) -> str:
    normal = normalize(code)
    assert normal is not None
    return hashlib.sha256(normal.encode()).hexdigest()


async def issue_code(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    elder_id: uuid.UUID,
    phone: str,
    created_by: uuid.UUID | None,
    ttl_s: int,
) -> IssuedCode:
    """A new code for the contact (elder, phone); an earlier one stops working."""
    code = new_code()
    expires_at = datetime.now(UTC) + timedelta(seconds=ttl_s)
    await session.execute(
        delete(LineLinkCode).where(LineLinkCode.elder_id == elder_id, LineLinkCode.phone == phone)
    )
    session.add(
        LineLinkCode(
            organization_id=organization_id,
            elder_id=elder_id,
            phone=phone,
            code_hash=code_hash(code),
            created_by_user_id=created_by,
            expires_at=expires_at,
        )
    )
    await session.flush()
    return IssuedCode(code=code, expires_at=expires_at)


async def pending_codes(session: AsyncSession, elder_id: uuid.UUID) -> dict[str, datetime]:
    """Unexpired codes of the elder's contacts: phone -> until when."""
    rows = await session.execute(
        select(LineLinkCode.phone, LineLinkCode.expires_at).where(
            LineLinkCode.elder_id == elder_id, LineLinkCode.expires_at > datetime.now(UTC)
        )
    )
    return {phone: at for phone, at in rows}


async def links(session: AsyncSession, elder_id: uuid.UUID) -> dict[str, datetime]:
    """The elder's contacts on LINE: phone -> linked at."""
    rows = await session.execute(
        select(LineLink.phone, LineLink.linked_at).where(LineLink.elder_id == elder_id)
    )
    return {phone: at for phone, at in rows}


async def count_try(session: AsyncSession, organization_id: uuid.UUID, line_user_id: str) -> None:
    """One code try by this LINE user; TooManyRequests past ``TRIES``."""
    key = f"line-code:{organization_id}:{line_user_id}"[:120]
    await take(session, key, TRIES, what="LINE code tries")


async def redeem(
    session: AsyncSession, *, organization_id: uuid.UUID, code: str, line_user_id: str
) -> Linked | None:
    """Link the code's contact to ``line_user_id`` and spend the code; None when the code
    is unknown, expired or another organization's."""
    found = await session.scalar(
        select(LineLinkCode)
        .where(
            LineLinkCode.code_hash == code_hash(code),
            LineLinkCode.organization_id == organization_id,
            LineLinkCode.expires_at > datetime.now(UTC),
        )
        .with_for_update()
    )
    if found is None:
        return None
    linked = Linked(elder_id=found.elder_id, phone=found.phone)
    await session.delete(found)
    upsert = insert(LineLink).values(
        id=uuid.uuid4(),
        organization_id=organization_id,
        elder_id=linked.elder_id,
        phone=linked.phone,
        line_user_id=line_user_id,
    )
    await session.execute(
        upsert.on_conflict_do_update(
            index_elements=[LineLink.elder_id, LineLink.phone],
            set_={"line_user_id": upsert.excluded.line_user_id, "linked_at": datetime.now(UTC)},
        )
    )
    return linked


async def unlink_user(session: AsyncSession, organization_id: uuid.UUID, line_user_id: str) -> int:
    """The user unfollowed (blocked) the account: every contact they linked goes back to
    SMS. Returns how many links were removed."""
    result = await session.execute(
        delete(LineLink)
        .where(LineLink.organization_id == organization_id, LineLink.line_user_id == line_user_id)
        .returning(LineLink.id)
    )
    return len(result.all())


async def unlink_contact(session: AsyncSession, elder_id: uuid.UUID, phone: str) -> bool:
    result = await session.execute(
        delete(LineLink)
        .where(LineLink.elder_id == elder_id, LineLink.phone == phone)
        .returning(LineLink.id)
    )
    return bool(result.all())
