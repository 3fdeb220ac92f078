"""PDPA: an elder's medical-access log, export of everything held on them, erasure."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.deps import PrincipalDep, SessionDep, SettingsDep
from api.guards import ADMIN, OFFICER, require_org_object
from core.errors import NotFound
from dispatch.elders import get_elder
from dispatch.medical_access import access_log
from dispatch.models import Elder
from dispatch.privacy.erasure import erase_elder
from dispatch.privacy.export import export_elder
from dispatch.privacy.schemas import ElderExport
from dispatch.views import MedicalAccessOut

router = APIRouter(tags=["privacy (PDPA)"])


@router.get(
    "/v1/elders/{elder_id}/medical-access",
    summary="Who was shown the elder's medical facts or contacts, and when (newest first)",
    description="Officers of the elder's organization and the admin. The log outlives an "
    "erased elder: it stays readable by the elder's id.",
)
async def get_medical_access(
    elder_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[MedicalAccessOut]:
    elder = await session.get(Elder, elder_id)
    organization_id: uuid.UUID | None
    if elder is not None:
        require_org_object(principal, elder.organization_id, OFFICER, what="elder")
        organization_id = elder.organization_id
    elif principal.kind in (OFFICER, ADMIN):
        organization_id = principal.organization_id  # None for the admin: any
    else:
        raise NotFound("no such elder")
    rows = await access_log(
        session, elder_id=elder_id, organization_id=organization_id, limit=limit
    )
    if elder is None and not rows:
        raise NotFound("no such elder")
    return rows


@router.get(
    "/v1/elders/{elder_id}/export",
    summary="Everything held on the elder, as one JSON document (logged as a medical read)",
    description="The record with medical facts and contacts, device tokens (metadata only), "
    "push devices (token masked), incidents with timelines, offers and trails, SOS "
    "requests, messages, and the medical-access log. Officers of the elder's organization "
    "and the admin.",
)
async def get_export(
    elder_id: uuid.UUID, session: SessionDep, principal: PrincipalDep, settings: SettingsDep
) -> ElderExport:
    elder = await get_elder(session, elder_id)
    require_org_object(principal, elder.organization_id, OFFICER, what="elder")
    return await export_elder(
        session,
        elder=elder,
        principal=principal,
        retention_days=settings.location_retention_days,
    )


@router.delete(
    "/v1/elders/{elder_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Erase the elder's personal data (409 while they have an open incident)",
    description="Removes the record, device tokens (their live sockets close), push devices, "
    "SOS requests, messages and personal details in incident timelines; the incidents stay "
    "for statistics, anonymous and with the point coarsened to about 1 km. Officers of the "
    "elder's organization and the admin.",
)
async def delete_elder(
    elder_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Response:
    elder = await get_elder(session, elder_id)
    require_org_object(principal, elder.organization_id, OFFICER, what="elder")
    await erase_elder(session, elder_id=elder.id, principal=principal)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
