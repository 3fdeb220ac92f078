import uuid

from fastapi import APIRouter

from api.deps import PrincipalDep, SessionDep
from api.guards import OFFICER, require_org
from core.tenancy.service import get_organization
from dispatch.policy_document import DispatchPolicy
from dispatch.policy_store import get_policy, set_policy

router = APIRouter(tags=["dispatch policy"])


@router.get("/v1/orgs/{org_id}/dispatch-policy", summary="Waves, radii and timeouts in force")
async def read_policy(
    org_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> DispatchPolicy:
    require_org(principal, org_id, OFFICER)
    await get_organization(session, org_id)
    return await get_policy(session, org_id)


@router.put("/v1/orgs/{org_id}/dispatch-policy", summary="Set the organization's dispatch policy")
async def write_policy(
    org_id: uuid.UUID, data: DispatchPolicy, session: SessionDep, principal: PrincipalDep
) -> DispatchPolicy:
    require_org(principal, org_id, OFFICER)
    await get_organization(session, org_id)
    return await set_policy(session, org_id, data)
