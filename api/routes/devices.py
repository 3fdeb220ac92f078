from fastapi import APIRouter, status

from api.deps import PrincipalDep, SessionDep
from api.guards import ELDER_DEVICE, OFFICER, RESPONDER, require_kind
from notifications.devices import register_device
from notifications.schemas import DeviceCreate, DeviceOut

router = APIRouter(tags=["devices"])


@router.post(
    "/v1/devices",
    status_code=status.HTTP_201_CREATED,
    summary="Register this phone's FCM token for push messages",
    description="Responders get offers, elders' phones 'help is coming', officers escalations.",
)
async def post_device(
    data: DeviceCreate, session: SessionDep, principal: PrincipalDep
) -> DeviceOut:
    require_kind(principal, OFFICER, RESPONDER, ELDER_DEVICE)
    assert principal.organization_id is not None
    return await register_device(
        session,
        organization_id=principal.organization_id,
        user_id=principal.user_id,
        elder_id=principal.elder_id,
        data=data,
    )
