import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class EventSequence(Base):
    """The last event id handed out per organization.

    Taking the next id locks this row until the transaction ends, so within an
    organization ids become visible strictly in order: a reader that has seen
    id N can never later find a committed N-1 it missed.
    """

    __tablename__ = "event_sequence"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True
    )
    last_id: Mapped[int] = mapped_column(BigInteger)


class IncidentEvent(Base):
    __tablename__ = "incident_event"
    __table_args__ = (Index("ix_incident_event_incident_id_id", "incident_id", "id"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    incident_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())
