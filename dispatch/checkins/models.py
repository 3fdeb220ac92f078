"""An elder's check-in plan (with the state of its current cycle) and the check-ins."""

import uuid
from datetime import datetime, time

from sqlalchemy import (
    ARRAY,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Time,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.types import new_id


class CheckinPlan(Base):
    """When the elder must check in, and where the current cycle stands.

    A *cycle* is one deadline ``due_at``: a scheduled local time (``times``) or, with
    ``inactivity_s``, that long after the last sign of life. Its deadline rows
    (``deadline.cycle_at = due_at``) fire reminders, tell the family when the grace
    period has passed (``stage = family_told``) and open an incident after
    ``family_wait_s`` more; a deadline of an older cycle finds ``due_at`` moved on and
    does nothing.
    """

    __tablename__ = "checkin_plan"
    __table_args__ = (
        CheckConstraint("(cardinality(times) > 0) <> (inactivity_s IS NOT NULL)", name="one_mode"),
        CheckConstraint("stage IN ('waiting', 'family_told')", name="stage"),
    )

    elder_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("elder.id", ondelete="CASCADE"), primary_key=True
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    # Local times of the organization's time zone; empty with an inactivity timer.
    times: Mapped[list[time]] = mapped_column(ARRAY(Time), default=list)
    inactivity_s: Mapped[int | None] = mapped_column(Integer)
    grace_s: Mapped[int] = mapped_column(Integer)
    family_wait_s: Mapped[int] = mapped_column(Integer)
    window_s: Mapped[int] = mapped_column(Integer)
    reminder_before_s: Mapped[int] = mapped_column(Integer)
    tell_family_on_checkin: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stage: Mapped[str] = mapped_column(String(16), default="waiting")
    last_checkin_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_activity_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The cycle that last ended in an incident, until a check-in shows the elder is well.
    missed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    incident_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("incident.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class Checkin(Base):
    """One check-in as it arrived, with how it was judged (``verdict``)."""

    __tablename__ = "checkin"
    __table_args__ = (
        UniqueConstraint("elder_id", "idempotency_key"),
        Index("ix_checkin_elder_captured", "elder_id", "captured_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    elder_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("elder.id", ondelete="CASCADE"))
    captured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Who pressed: the elder's phone (null) or a caregiver or officer on their behalf.
    by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL")
    )
    # The deadline it counted for (null: not counted, see verdict).
    cycle_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    verdict: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
