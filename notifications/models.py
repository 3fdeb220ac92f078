import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Enum,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
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


class OutboxState(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class OutboxMessage(Base):
    """A message to send, written in the transaction of the event that causes it.

    A sender leases the rows it sends (``notifications.outbox_claim``): it sets
    ``lease_token`` and moves ``next_attempt_at`` to the lease's end, so the row
    is due again, for any sender, if no result is recorded by then.
    """

    __tablename__ = "outbox_message"
    __table_args__ = (
        # Each lane (route) claims its own due rows, oldest first.
        Index(
            "ix_outbox_message_due_by_route",
            "route",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    incident_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), index=True
    )
    offer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("offer.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    route: Mapped[str] = mapped_column(String(16))
    recipient_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="CASCADE")
    )
    recipient_elder_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("elder.id", ondelete="CASCADE")
    )
    recipient_phone: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8))
    # Rendered at enqueue time: title, body, data, ttl_s, urgent.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    state: Mapped[OutboxState] = mapped_column(
        Enum(OutboxState, name="outbox_state", **enum_column_kwargs(OutboxState)),
        default=OutboxState.PENDING,
    )
    channel: Mapped[str | None] = mapped_column(String(16))
    # Counted when a sender claims the row (a sender that dies mid-send used an attempt).
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    # When the row is due: first at once, then after a backoff, or at the end of a lease.
    next_attempt_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # The current (or last, if its sender died) lease: only its holder records a result.
    lease_token: Mapped[uuid.UUID | None]
    lease_owner: Mapped[str | None] = mapped_column(String(120))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    sent_at: Mapped[datetime | None]


class HandoffEndpoint(Base):
    """An organization's province 1669 centre: where hand-off records go (a webhook) and
    the secret shared with it, which signs both ways (``notifications.signing``). The
    secret is never returned by the API."""

    __tablename__ = "handoff_endpoint"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
