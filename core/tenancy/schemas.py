import uuid
import zoneinfo
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from core.inputs import InputModel
from core.tenancy.models import Role
from core.types import UtcDateTime

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 -]{1,30}$")]
Password = Annotated[str, StringConstraints(min_length=8, max_length=256)]


def _lower(value: str) -> str:
    return value.lower()


Email = Annotated[EmailStr, AfterValidator(_lower)]


def _known_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


class OrganizationCreate(InputModel):
    name: Name
    code: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{1,63}$")] = Field(
        description="Short unique code, lower-case letters, digits, '-' or '_'",
        examples=["thakhantho"],
    )
    fallback_phone: Phone = "1669"
    timezone: Annotated[str, AfterValidator(_known_timezone)] = "Asia/Bangkok"


class OrganizationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    code: str
    fallback_phone: str
    timezone: str
    created_at: UtcDateTime


class OfficerCreate(InputModel):
    name: Name
    email: Email
    password: Password
    phone: Phone | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    organization_id: uuid.UUID | None
    role: Role
    name: str
    email: str
    phone: str | None
    created_at: UtcDateTime
    disabled_at: UtcDateTime | None = None


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105
    expires_in: int
    # Single use: trade it at POST /v1/auth/token (grant_type=refresh_token) for a new
    # pair before the access token expires.
    refresh_token: str
    refresh_expires_in: int
