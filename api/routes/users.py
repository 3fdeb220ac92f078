import uuid

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import PrincipalDep, SessionDep
from api.policy import OFFICER, require_org_object
from core.errors import Conflict, NotFound
from core.principal import Principal
from core.tenancy.models import User
from core.tenancy.schemas import UserOut
from dispatch.responders import set_access

router = APIRouter(tags=["organizations and users"])


async def _staff_account(session: AsyncSession, user_id: uuid.UUID, principal: Principal) -> User:
    """The account, if the principal may manage it: the admin any, an officer their
    organization's (never the platform admin's)."""
    user = await session.get(User, user_id, with_for_update=True)
    if user is None or (user.organization_id is None and not principal.is_admin):
        raise NotFound("no such user")
    if user.organization_id is not None:
        require_org_object(principal, user.organization_id, OFFICER, what="user")
    if user.id == principal.user_id:
        raise Conflict("you cannot change your own account's access")
    return user


@router.post(
    "/v1/users/{user_id}/disable",
    summary="Revoke a staff account's access (a responder who left, a lost phone)",
    description=(
        "Refresh tokens are revoked, live sockets closed and access tokens refused from "
        "the next request. A responder goes off duty; their open offers go to the next "
        "candidates and the officers are told of incidents they were assigned to."
    ),
)
async def disable_user(user_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> UserOut:
    user = await _staff_account(session, user_id, principal)
    await set_access(session, user=user, enabled=False)
    return UserOut.model_validate(user)


@router.post("/v1/users/{user_id}/enable", summary="Give a disabled staff account its access back")
async def enable_user(user_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> UserOut:
    user = await _staff_account(session, user_id, principal)
    await set_access(session, user=user, enabled=True)
    return UserOut.model_validate(user)
