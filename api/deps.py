"""Request-scoped dependencies: settings, the unit of work, the calling principal."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Unauthenticated
from core.principal import Principal, PrincipalKind, StaffPrincipal
from core.security import DEVICE_TOKEN_PREFIX, decode_access_token
from core.settings import Settings
from core.tenancy.models import Role, User
from core.uow import unit_of_work
from dispatch.elders import authenticate_device


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed before the response is sent."""
    async with unit_of_work(request.app.state.sessionmaker) as session:
        yield session


# scope="function": the commit happens before the response leaves, so a client
# never sees 201 for something that was not stored.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

bearer = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)

ROLE_TO_KIND = {
    Role.ADMIN: PrincipalKind.ADMIN,
    Role.OFFICER: PrincipalKind.OFFICER,
    Role.RESPONDER: PrincipalKind.RESPONDER,
}


async def principal_from_token(session: AsyncSession, settings: Settings, token: str) -> Principal:
    """Resolve a bearer token (staff JWT or elder device token) to its principal."""
    if token.startswith(DEVICE_TOKEN_PREFIX):
        device = await authenticate_device(session, token)
        if device is None:
            raise Unauthenticated("The device token is not valid.")
        return device
    claims = decode_access_token(token, secret=settings.secret_key.get_secret_value())
    user = await session.get(User, claims.user_id)
    if user is None or user.disabled_at is not None:
        raise Unauthenticated("This account no longer exists or is disabled.")
    return StaffPrincipal(
        kind=ROLE_TO_KIND[user.role], organization_id=user.organization_id, user_id=user.id
    )


async def current_principal(
    session: SessionDep, settings: SettingsDep, token: Annotated[str | None, Depends(bearer)]
) -> Principal:
    if not token:
        raise Unauthenticated("Send 'Authorization: Bearer <token>'.")
    return await principal_from_token(session, settings, token)


PrincipalDep = Annotated[Principal, Depends(current_principal)]
