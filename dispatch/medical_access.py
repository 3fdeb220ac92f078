"""The medical-access log: one row each time an elder's medical facts or contacts are
disclosed to someone, written in the transaction of the read (rolled back with it)."""

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.principal import Principal
from dispatch.enums import AccessKind
from dispatch.models import MedicalAccess
from dispatch.views import MedicalAccessOut


def record_access(
    session: AsyncSession,
    *,
    principal: Principal,
    organization_id: uuid.UUID,
    elder_id: uuid.UUID,
    what: AccessKind,
    incident_id: uuid.UUID | None = None,
) -> None:
    """Log that ``principal`` was shown the elder's medical facts; commits with the read."""
    session.add(
        MedicalAccess(
            organization_id=organization_id,
            elder_id=elder_id,
            incident_id=incident_id,
            principal_kind=principal.kind,
            user_id=principal.user_id,
            device_token_id=principal.device_token_id,
            what=what,
        )
    )


def carries_medical(name: str, data: dict[str, Any]) -> bool:
    """Whether an event's data (as sent to someone) holds medical facts or contacts: the
    fallback dossier of a level-2 escalation does."""
    return name == "incident.escalated" and "handoff" in data


async def access_log(
    session: AsyncSession,
    *,
    elder_id: uuid.UUID,
    organization_id: uuid.UUID | None,
    limit: int | None = None,
) -> list[MedicalAccessOut]:
    """The elder's access log, newest first (of one organization, or any for the admin)."""
    stmt = (
        select(MedicalAccess)
        .where(MedicalAccess.elder_id == elder_id)
        .order_by(MedicalAccess.at.desc(), MedicalAccess.id.desc())
        .limit(limit)
    )
    if organization_id is not None:
        stmt = stmt.where(MedicalAccess.organization_id == organization_id)
    await session.flush()
    rows = await session.scalars(stmt)
    return [MedicalAccessOut.model_validate(row, from_attributes=True) for row in rows]
