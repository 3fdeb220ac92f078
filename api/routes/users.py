import uuid

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import PrincipalDep, SessionDep
from api.guards import OFFICER, require_org_object
from core.errors import Conflict, NotFound
from core.principal import Principal
from core.tenancy.models import User
from core.tenancy.schemas import UserOut
from dispatch.responder_access import set_access

router = APIRouter(tags=["organizations and users"])


async def _staff_account(session: AsyncSession, user_id: uuid.UUID, principal: Principal) -> User:
    """The account, locked, if the principal may manage it: the admin any, an officer
    their organization's (never the platform admin's).

    Access is checked on a plain read first: a refused caller never holds a lock on
    another organization's account. The lock is FOR NO KEY UPDATE (no key changes).
    """
    found = (
        await session.execute(select(User.organization_id).where(User.id == user_id))
    ).one_or_none()
    if found is None or (found.organization_id is None and not principal.is_admin):
        raise NotFound("no such user")
    if found.organization_id is not None:
        require_org_object(principal, found.organization_id, OFFICER, what="user")
    if user_id == principal.user_id:
        raise Conflict("you cannot change your own account's access")
    user = await session.scalar(
        select(User)
        .where(User.id == user_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    if user is None:  # removed in between
        raise NotFound("no such user")
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
