import enum
import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, SmallInteger, String, func
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.types import created_at_column, enum_column_kwargs, new_id


class Role(enum.StrEnum):
    ADMIN = "admin"
    OFFICER = "officer"
    RESPONDER = "responder"


class Organization(Base):
    __tablename__ = "organization"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(64), unique=True)
    fallback_phone: Mapped[str] = mapped_column(String(32), default="1669")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Bangkok")
    created_at: Mapped[datetime] = created_at_column()


class User(Base):
    """A staff account: the platform admin, an officer or a responder."""

    __tablename__ = "app_user"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[Role] = mapped_column(Enum(Role, name="role", **enum_column_kwargs(Role)))
    name: Mapped[str] = mapped_column(String(200))
    # Stored lower-cased; unique across the platform because it is the login.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    disabled_at: Mapped[datetime | None]
    # Consecutive failed logins, and until when the account refuses to log in.
    failed_logins: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class RefreshToken(Base):
    """A staff refresh token (only its SHA-256 is kept). Each use rotates it: the used
    one is marked and a successor in the same family is issued; a used token shown again
    after the grace period means it was copied, and the whole family is revoked."""

    __tablename__ = "refresh_token"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("app_user.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
