"""The 1669 centre's answers to a hand-off (the APCO/CSAA ASAP lifecycle), one row each:
the unique (incident, answer id) makes a repeated callback one answer."""

import enum
import uuid
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.types import created_at_column, enum_column_kwargs, new_id


class HandoffStatus(enum.StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    DISPATCHED = "dispatched"
    ARRIVED = "arrived"
    CLOSED = "closed"


class HandoffAnswer(Base):
    __tablename__ = "handoff_answer"
    __table_args__ = (UniqueConstraint("incident_id", "answer_id"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    # The centre's id of its answer: the same id again is the same answer.
    answer_id: Mapped[str] = mapped_column(String(100))
    status: Mapped[HandoffStatus] = mapped_column(
        Enum(HandoffStatus, name="handoff_status", **enum_column_kwargs(HandoffStatus))
    )
    reason: Mapped[str | None] = mapped_column(Text)
    disposition: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None] = mapped_column(String(200))
    answered_at: Mapped[datetime]
    received_at: Mapped[datetime] = created_at_column()
