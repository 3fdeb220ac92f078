from typing import Annotated

from fastapi import APIRouter, Form, Request

from api.deps import PrincipalDep, SessionDep, SettingsDep
from core.security import create_access_token
from core.tenancy.schemas import TokenOut
from core.tenancy.service import LoginFailed, authenticate, record_login_failure
from core.uow import unit_of_work

router = APIRouter(tags=["auth"])


@router.get("/v1/me", summary="Who this token belongs to")
async def me(principal: PrincipalDep) -> dict[str, str | None]:
    return principal.public()


@router.post("/v1/auth/token", summary="Log in (OAuth2 password form) and get a bearer token")
async def token(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=256)],
) -> TokenOut:
    try:
        user = await authenticate(session, email=username, password=password)
    except LoginFailed as failed:
        async with unit_of_work(request.app.state.sessionmaker) as counting:
            await record_login_failure(counting, failed.user_id)
        raise
    access_token, _ = create_access_token(
        secret=settings.secret_key.get_secret_value(),
        user_id=user.id,
        role=user.role.value,
        organization_id=user.organization_id,
        ttl_s=settings.access_token_ttl_s,
    )
    return TokenOut(access_token=access_token, expires_in=settings.access_token_ttl_s)
