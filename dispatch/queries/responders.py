"""The organization's responders, in one statement whatever their number."""

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.tenancy.models import User
from dispatch.models import Responder, ResponderZone
from dispatch.responders import to_responder_out
from dispatch.views import ResponderOut


async def list_responders(session: AsyncSession, organization_id: uuid.UUID) -> list[ResponderOut]:
    zone_ids = (
        select(func.array_agg(ResponderZone.zone_id))
        .where(ResponderZone.responder_id == Responder.id)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(Responder, User, zone_ids)
        .join(User, User.id == Responder.id)
        .where(Responder.organization_id == organization_id)
        .order_by(User.name, Responder.id)
    )
    return [to_responder_out(responder, user, list(zones or [])) for responder, user, zones in rows]
