import uuid

from fastapi import APIRouter, Response, status

from api.deps import PrincipalDep, SessionDep
from api.guards import OFFICER, require_org, require_org_object
from core.tenancy.service import get_organization
from dispatch.elders import (
    create_elder,
    elder_out,
    elder_summary,
    get_elder,
    issue_device_token,
    list_elders,
    revoke_device_token,
)
from dispatch.enums import AccessKind
from dispatch.inputs import DeviceTokenCreate, ElderCreate
from dispatch.medical_access import record_access
from dispatch.views import DeviceTokenOut, ElderOut, ElderSummary

router = APIRouter(tags=["elders"])


@router.post(
    "/v1/orgs/{org_id}/elders", status_code=status.HTTP_201_CREATED, summary="Enrol an elder"
)
async def post_elder(
    org_id: uuid.UUID, data: ElderCreate, session: SessionDep, principal: PrincipalDep
) -> ElderOut:
    require_org(principal, org_id, OFFICER)
    await get_organization(session, org_id)
    elder = await create_elder(session, organization_id=org_id, data=data)
    record_access(
        session,
        principal=principal,
        organization_id=org_id,
        elder_id=elder.id,
        what=AccessKind.ENROLMENT,
    )
    return elder_out(elder)


@router.get(
    "/v1/orgs/{org_id}/elders",
    summary="The organization's elders (no medical facts or contacts: see one elder)",
)
async def get_elders(
    org_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> list[ElderSummary]:
    require_org(principal, org_id, OFFICER)
    return [elder_summary(e) for e in await list_elders(session, org_id)]


@router.get(
    "/v1/elders/{elder_id}",
    summary="One elder, with medical details (officers; every read is logged)",
)
async def get_one_elder(
    elder_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> ElderOut:
    elder = await get_elder(session, elder_id)
    require_org_object(principal, elder.organization_id, OFFICER, what="elder")
    record_access(
        session,
        principal=principal,
        organization_id=elder.organization_id,
        elder_id=elder.id,
        what=AccessKind.ELDER,
    )
    return elder_out(elder)


@router.post(
    "/v1/elders/{elder_id}/device-tokens",
    status_code=status.HTTP_201_CREATED,
    summary="Issue a device token for the elder's phone (shown once, e.g. as a QR code)",
)
async def post_device_token(
    elder_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    data: DeviceTokenCreate | None = None,
) -> DeviceTokenOut:
    elder = await get_elder(session, elder_id)
    require_org_object(principal, elder.organization_id, OFFICER, what="elder")
    return await issue_device_token(
        session, elder=elder, created_by=principal.user_id, label=data.label if data else None
    )


@router.delete(
    "/v1/elders/{elder_id}/device-tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a device token (a lost or replaced phone)",
)
async def delete_device_token(
    elder_id: uuid.UUID, token_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Response:
    elder = await get_elder(session, elder_id)
    require_org_object(principal, elder.organization_id, OFFICER, what="elder")
    await revoke_device_token(session, elder_id=elder.id, token_id=token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
