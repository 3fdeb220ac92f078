"""Push registrations (FCM tokens) of responders' and elders' phones."""

import uuid

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from notifications.models import PushDevice
from notifications.schemas import DeviceCreate, DeviceOut


async def register_device(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    user_id: uuid.UUID | None,
    elder_id: uuid.UUID | None,
    data: DeviceCreate,
) -> DeviceOut:
    """Register a token; one already known moves to this owner (a phone changed hands)."""
    owner = {"organization_id": organization_id, "user_id": user_id, "elder_id": elder_id}
    stmt = (
        insert(PushDevice)
        .values(id=uuid.uuid4(), fcm_token=data.fcm_token, platform=data.platform, **owner)
        .on_conflict_do_update(
            index_elements=[PushDevice.fcm_token],
            set_={**owner, "platform": data.platform, "updated_at": func.now()},
        )
        .returning(PushDevice)
    )
    device = (await session.execute(stmt)).scalar_one()
    return DeviceOut.model_validate(device)
