import uuid

from fastapi import APIRouter, status

from api.deps import PrincipalDep, SessionDep
from api.guards import ADMIN, OFFICER, require_kind, require_org
from core.tenancy.models import Role
from core.tenancy.schemas import OfficerCreate, OrganizationCreate, OrganizationOut, UserOut
from core.tenancy.service import create_organization, create_user, get_organization

router = APIRouter(prefix="/v1/orgs", tags=["organizations"])


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create an organization (admin)")
async def create_org(
    data: OrganizationCreate, session: SessionDep, principal: PrincipalDep
) -> OrganizationOut:
    require_kind(principal, ADMIN)
    org = await create_organization(session, data=data)
    await session.refresh(org)
    return OrganizationOut.model_validate(org)


@router.get("/{org_id}", summary="One organization")
async def read_org(
    org_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> OrganizationOut:
    require_org(principal, org_id, OFFICER)
    return OrganizationOut.model_validate(await get_organization(session, org_id))


@router.post(
    "/{org_id}/officers", status_code=status.HTTP_201_CREATED, summary="Add a health officer"
)
async def create_officer(
    org_id: uuid.UUID, data: OfficerCreate, session: SessionDep, principal: PrincipalDep
) -> UserOut:
    require_org(principal, org_id, OFFICER)
    await get_organization(session, org_id)
    user = await create_user(
        session,
        organization_id=org_id,
        role=Role.OFFICER,
        name=data.name,
        email=data.email,
        password=data.password,
        phone=data.phone,
    )
    await session.refresh(user)
    return UserOut.model_validate(user)
