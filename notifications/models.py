import enum
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Enum, ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.types import created_at_column, enum_column_kwargs, new_id


class Platform(enum.StrEnum):
    ANDROID = "android"
    IOS = "ios"
    WEB = "web"


class PushDevice(Base):
    """An FCM registration token of a responder's or an elder's phone."""

    __tablename__ = "push_device"
    __table_args__ = (
        CheckConstraint("(user_id is null) <> (elder_id is null)", name="exactly_one_owner"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="CASCADE"), index=True
    )
    elder_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("elder.id", ondelete="CASCADE"), index=True
    )
    # A token identifies one app install; re-registering moves it to the new owner.
    fcm_token: Mapped[str] = mapped_column(String(4096), unique=True)
    platform: Mapped[Platform] = mapped_column(
        Enum(Platform, name="platform", **enum_column_kwargs(Platform))
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
