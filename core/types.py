"""Column and schema types shared by every domain package."""

import enum
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, PlainSerializer
from sqlalchemy import func
from sqlalchemy.orm import Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


def _to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # e.g. 0001-01-01T00:00+07:00, before year 1 in UTC: a 422, not a 500.
        raise ValueError("timestamp is out of range") from None


def format_utc(value: datetime) -> str:
    """ISO 8601 in UTC with millisecond precision and a ``Z``."""
    return _to_utc(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# A timestamp that is always UTC and always leaves the API as ``...Z``.
UtcDateTime = Annotated[datetime, AfterValidator(_to_utc), PlainSerializer(format_utc)]

Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False, examples=[16.88])]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False, examples=[103.26])]


def created_at_column() -> Mapped[datetime]:
    return mapped_column(server_default=func.now())


def str_enum_values(enum_cls: type[enum.StrEnum]) -> list[str]:
    return [member.value for member in enum_cls]


def enum_column_kwargs(enum_cls: type[enum.StrEnum]) -> dict[str, Any]:
    """Enums are stored as text with a CHECK constraint: easy to extend later."""
    return {
        "native_enum": False,
        "create_constraint": True,
        "length": 32,
        "values_callable": str_enum_values,
        "validate_strings": True,
    }
