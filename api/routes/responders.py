import uuid

from fastapi import APIRouter, Response, status

from api.deps import PrincipalDep, SessionDep, SettingsDep
from api.guards import OFFICER, ResponderDep, require_org
from api.rate_limits import LOCATIONS
from core.tenancy.service import get_organization
from dispatch.inputs import DutyStatusIn, LocationIn, ResponderCreate
from dispatch.locations import responder_moved
from dispatch.queries.responders import list_responders
from dispatch.responders import create_responder, set_duty
from dispatch.views import DutyStatusOut, ResponderOut

router = APIRouter(tags=["responders"])


@router.post(
    "/v1/orgs/{org_id}/responders",
    status_code=status.HTTP_201_CREATED,
    summary="Add a responder (caregiver, volunteer, care manager, rescue crew)",
)
async def post_responder(
    org_id: uuid.UUID, data: ResponderCreate, session: SessionDep, principal: PrincipalDep
) -> ResponderOut:
    require_org(principal, org_id, OFFICER)
    await get_organization(session, org_id)
    return await create_responder(session, organization_id=org_id, data=data)


@router.get("/v1/orgs/{org_id}/responders", summary="The organization's responders")
async def get_responders(
    org_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> list[ResponderOut]:
    require_org(principal, org_id, OFFICER)
    return await list_responders(session, org_id)


@router.put("/v1/responders/me/status", summary="Go on or off duty")
async def put_status(
    data: DutyStatusIn, session: SessionDep, responder: ResponderDep
) -> DutyStatusOut:
    return await set_duty(session, responder_id=responder.user_id, on_duty=data.on_duty)


@router.post(
    "/v1/responders/me/location",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Report the responder's position (an older fix than the last is ignored)",
    dependencies=[LOCATIONS],
)
async def post_location(
    data: LocationIn, session: SessionDep, responder: ResponderDep, settings: SettingsDep
) -> Response:
    await responder_moved(
        session, responder_id=responder.user_id, location=data, speed_kmh=settings.eta_speed_kmh
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
