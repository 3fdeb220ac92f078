import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.deps import PrincipalDep, SessionDep, SettingsDep
from core.errors import FieldProblem, InvalidInput, Unauthenticated
from core.security import create_access_token
from core.settings import Settings
from core.tenancy.login import log_in
from core.tenancy.models import Role
from core.tenancy.schemas import TokenOut
from core.tenancy.sessions import RefreshRefused, rotate_refresh_token, sign_out
from core.uow import in_transaction

router = APIRouter(tags=["auth"])

TokenForm = Annotated[str | None, Form(max_length=512)]


@router.get("/v1/me", summary="Who this token belongs to")
async def me(principal: PrincipalDep) -> dict[str, str | None]:
    return principal.public()


@router.post(
    "/v1/auth/token",
    summary="Log in (OAuth2 password form) or renew with a refresh token",
    description=(
        "`grant_type=password` (the default) with `username` and `password`, or "
        "`grant_type=refresh_token` with `refresh_token`. Either answers a short-lived "
        "access token and a new single-use refresh token."
    ),
)
async def token(
    request: Request,
    settings: SettingsDep,
    grant_type: Annotated[Literal["password", "refresh_token"], Form()] = "password",
    username: Annotated[str | None, Form(max_length=320)] = None,
    password: Annotated[str | None, Form(max_length=256)] = None,
    refresh_token: TokenForm = None,
) -> TokenOut:
    # No request-scoped session here: each step takes a connection for one short
    # transaction of its own and gives it back before the next (Argon2 runs with
    # none held), so a flood of logins cannot take the pool from SOS.
    sessionmaker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    if grant_type == "refresh_token":
        if not refresh_token:
            raise _missing("refresh_token")
        return await _renew(sessionmaker, settings, refresh_token)
    if username is None or password is None:
        raise _missing(
            *(name for name, v in (("username", username), ("password", password)) if v is None)
        )
    done = await log_in(
        sessionmaker, email=username, password=password, refresh_ttl_s=settings.refresh_token_ttl_s
    )
    return _tokens(settings, done.user_id, done.role, done.organization_id, done.refresh_token)


@router.post(
    "/v1/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Sign out on this phone: the refresh token and its successors stop working",
)
async def logout(
    session: SessionDep, refresh_token: Annotated[str, Form(max_length=512)]
) -> Response:
    await sign_out(session, token=refresh_token)  # unknown tokens too: nothing to reveal
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _renew(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, refresh_token: str
) -> TokenOut:
    # The rotation is committed even when it refuses: a refusal that revokes a
    # stolen token's family must stick although the answer is 401.
    outcome = await in_transaction(
        sessionmaker,
        lambda rotating: rotate_refresh_token(
            rotating,
            token=refresh_token,
            ttl_s=settings.refresh_token_ttl_s,
            grace_s=settings.refresh_reuse_grace_s,
        ),
        what="rotate a refresh token",
    )
    if outcome is RefreshRefused.REUSED:
        raise Unauthenticated(
            "This refresh token was already used, so its sessions are signed out; log in again."
        )
    if isinstance(outcome, RefreshRefused):
        raise Unauthenticated("The refresh token is not valid or has expired; log in again.")
    user = outcome.user
    return _tokens(settings, user.id, user.role, user.organization_id, outcome.refresh_token)


def _tokens(
    settings: Settings,
    user_id: uuid.UUID,
    role: Role,
    organization_id: uuid.UUID | None,
    refresh_token: str,
) -> TokenOut:
    access_token, _ = create_access_token(
        secret=settings.secret_key.get_secret_value(),
        user_id=user_id,
        role=role.value,
        organization_id=organization_id,
        ttl_s=settings.access_token_ttl_s,
    )
    return TokenOut(
        access_token=access_token,
        expires_in=settings.access_token_ttl_s,
        refresh_token=refresh_token,
        refresh_expires_in=settings.refresh_token_ttl_s,
    )


def _missing(*fields: str) -> InvalidInput:
    return InvalidInput(
        "the form is incomplete",
        errors=[FieldProblem(loc=["body", name], msg="Field required") for name in fields],
    )
