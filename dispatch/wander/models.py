"""Safe zones, the elder's positions outside incidents, and the wander trackers."""

import uuid
from datetime import datetime, time
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Time,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.types import created_at_column, new_id


class SafeZone(Base):
    """Where an elder is safe, in its active hours (local time of the organization).

    ``area`` is the polygon tested; a circle around home is stored as its polygon too,
    with ``centre`` and ``radius_m`` kept to show it as it was set.
    """

    __tablename__ = "safe_zone"
    __table_args__ = (
        CheckConstraint("kind IN ('polygon', 'circle')", name="kind"),
        CheckConstraint("(active_from IS NULL) = (active_to IS NULL)", name="active_hours_pair"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    elder_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("elder.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    area: Mapped[WKBElement] = mapped_column(
        Geometry("MULTIPOLYGON", srid=4326, spatial_index=False), nullable=False
    )
    centre: Mapped[WKBElement | None] = mapped_column(
        Geometry("POINT", srid=4326, spatial_index=False)
    )
    radius_m: Mapped[float | None] = mapped_column(Float)
    active_from: Mapped[time | None] = mapped_column(Time)
    active_to: Mapped[time | None] = mapped_column(Time)
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = created_at_column()


class ElderPosition(Base):
    """A fix from the elder's phone outside an incident (deleted after the retention)."""

    __tablename__ = "elder_position"
    __table_args__ = (Index("ix_elder_position_elder_captured", "elder_id", "captured_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    elder_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("elder.id", ondelete="CASCADE"))
    captured_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    accuracy_m: Mapped[float] = mapped_column(Float)


class WanderTracker(Base):
    """The state machine of one safe zone (dispatch/wander/machine.Tracker), stored."""

    __tablename__ = "wander_tracker"

    zone_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("safe_zone.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(String(16))
    judged: Mapped[str] = mapped_column(String(16))
    last_fix_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    left_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outside_fixes: Mapped[int] = mapped_column(Integer, default=0)
    incident_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("incident.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
