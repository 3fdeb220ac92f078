from typing import Annotated

from fastapi import APIRouter, Form

from api.deps import SessionDep, SettingsDep
from core.security import create_access_token
from core.tenancy.schemas import TokenOut
from core.tenancy.service import authenticate

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post("/token", summary="Log in (OAuth2 password form) and get a bearer token")
async def token(
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=256)],
) -> TokenOut:
    user = await authenticate(session, email=username, password=password)
    access_token, _ = create_access_token(
        secret=settings.secret_key.get_secret_value(),
        user_id=user.id,
        role=user.role.value,
        organization_id=user.organization_id,
        ttl_s=settings.access_token_ttl_s,
    )
    return TokenOut(access_token=access_token, expires_in=settings.access_token_ttl_s)
