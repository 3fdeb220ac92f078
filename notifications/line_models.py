"""Families on LINE: the organization's LINE Official Account (its Messaging API channel),
the family contacts linked to a LINE user, and the one-time codes that link them.

A family contact is an entry of ``elder.contacts`` (name, phone, relation, notify);
it is identified by the elder and its phone number, here as everywhere. The LINE user
id is personal data of the family member: it goes with the elder (cascade on erasure).
"""

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.types import created_at_column, new_id


class LineAccount(Base):
    """An organization's LINE Official Account: the channel access token that sends and
    the channel secret that signs its webhooks. Neither is ever returned by the API."""

    __tablename__ = "line_account"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True
    )
    channel_id: Mapped[str | None] = mapped_column(String(32))
    channel_secret: Mapped[str] = mapped_column(String(100))
    access_token: Mapped[str] = mapped_column(String(2000))
    # The account's basic id ("@123abcde"): the family adds it as a friend.
    basic_id: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class LineLink(Base):
    """A family contact (elder, phone) who follows the account: where LINE messages go."""

    __tablename__ = "line_link"
    __table_args__ = (
        UniqueConstraint("elder_id", "phone"),
        Index("ix_line_link_user", "organization_id", "line_user_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    elder_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("elder.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(32))
    line_user_id: Mapped[str] = mapped_column(String(64))
    linked_at: Mapped[datetime] = created_at_column()


class LineLinkCode(Base):
    """A one-time code an officer shows a family contact, who sends it to the account in
    LINE. Only its SHA-256 is kept; a newer code for the same contact replaces it."""

    __tablename__ = "line_link_code"
    __table_args__ = (UniqueConstraint("elder_id", "phone"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    elder_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("elder.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime]
