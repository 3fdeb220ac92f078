import uuid
from datetime import datetime
from typing import Any

from geoalchemy2 import Geometry, WKBElement
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Enum,
    Float,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.principal import PrincipalKind
from core.types import created_at_column, enum_column_kwargs, new_id
from dispatch.enums import (
    ACTIVE_STATES,
    AccessKind,
    DeadlineKind,
    IncidentState,
    Language,
    LocationSource,
    OfferState,
    ResponderKind,
    Trigger,
)


def _point() -> Any:
    return Geometry("POINT", srid=4326, spatial_index=True)


class Elder(Base):
    __tablename__ = "elder"
    __table_args__ = (CheckConstraint("dependency_group between 1 and 3", name="dependency_group"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    home: Mapped[WKBElement] = mapped_column(_point(), nullable=False)
    address: Mapped[str | None] = mapped_column(Text)
    dependency_group: Mapped[int] = mapped_column(SmallInteger)
    conditions: Mapped[list[str]] = mapped_column(ARRAY(String(200)), default=list)
    medications: Mapped[list[str]] = mapped_column(ARRAY(String(200)), default=list)
    allergies: Mapped[list[str]] = mapped_column(ARRAY(String(200)), default=list)
    blood_type: Mapped[str | None] = mapped_column(String(8))
    contacts: Mapped[list[dict[str, str]]] = mapped_column(JSONB, default=list)
    language: Mapped[Language] = mapped_column(
        Enum(Language, name="language", **enum_column_kwargs(Language)), default=Language.TH
    )
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class ElderDeviceToken(Base):
    """A long-lived token for an elder's phone. Only its hash is kept."""

    __tablename__ = "elder_device_token"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    elder_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("elder.id", ondelete="CASCADE"), index=True
    )
    secret_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(100))
    created_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = created_at_column()
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Responder(Base):
    """The responder profile of a staff account (same id as its ``app_user``)."""

    __tablename__ = "responder"

    id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[ResponderKind] = mapped_column(
        Enum(ResponderKind, name="responder_kind", **enum_column_kwargs(ResponderKind))
    )
    skills: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    on_duty: Mapped[bool] = mapped_column(Boolean, default=False)
    on_duty_changed_at: Mapped[datetime | None]
    last_location: Mapped[WKBElement | None] = mapped_column(_point())
    last_location_accuracy_m: Mapped[float | None] = mapped_column(Float)
    last_location_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = created_at_column()


class ResponderZone(Base):
    """A zone's team: the responders who answer first for that zone."""

    __tablename__ = "responder_zone"

    responder_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("responder.id", ondelete="CASCADE"), primary_key=True
    )
    zone_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("care_zone.id", ondelete="CASCADE"), primary_key=True, index=True
    )


_active_states_sql = ", ".join(f"'{s.value}'" for s in ACTIVE_STATES)


class Incident(Base):
    __tablename__ = "incident"
    # The INSERT returns created_at and updated_at: no SELECT to refresh a new incident.
    __mapper_args__ = {"eager_defaults": True}  # noqa: RUF012 (SQLAlchemy's own attribute)
    __table_args__ = (
        # At most one active incident per elder: a second SOS joins it.
        Index(
            "uq_incident_one_active_per_elder",
            "elder_id",
            unique=True,
            postgresql_where=text(f"state in ({_active_states_sql})"),
        ),
        Index("ix_incident_organization_id_created_at", "organization_id", "created_at"),
        # Closed incidents whose location trail the retention sweep has yet to delete.
        Index(
            "ix_incident_trail_due",
            "closed_at",
            postgresql_where=text("closed_at is not null and trail_purged_at is null"),
        ),
        CheckConstraint("escalation_level >= 0", name="escalation_level"),
        CheckConstraint("battery_pct is null or battery_pct between 0 and 100", name="battery"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    # NULL once the elder's record was erased: the incident stays, anonymous, for statistics.
    elder_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("elder.id", ondelete="CASCADE"))
    zone_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("care_zone.id", ondelete="SET NULL"), index=True
    )
    state: Mapped[IncidentState] = mapped_column(
        Enum(IncidentState, name="incident_state", **enum_column_kwargs(IncidentState)),
        default=IncidentState.DISPATCHING,
    )
    escalation_level: Mapped[int] = mapped_column(SmallInteger, default=0)
    # The offer wave in progress (0: none yet).
    wave: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    trigger: Mapped[Trigger] = mapped_column(
        Enum(Trigger, name="trigger", **enum_column_kwargs(Trigger))
    )
    location: Mapped[WKBElement] = mapped_column(_point(), nullable=False)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    location_source: Mapped[LocationSource] = mapped_column(
        Enum(LocationSource, name="location_source", **enum_column_kwargs(LocationSource))
    )
    captured_at: Mapped[datetime | None]
    battery_pct: Mapped[int | None] = mapped_column(SmallInteger)
    note: Mapped[str | None] = mapped_column(Text)
    opened_by_user_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("app_user.id", ondelete="SET NULL")
    )
    assigned_responder_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("responder.id", ondelete="SET NULL")
    )
    outcome: Mapped[str | None] = mapped_column(String(32))
    closing_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())
    accepted_at: Mapped[datetime | None]
    on_scene_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # When the retention sweep (or an erasure) deleted the positions reported during it.
    trail_purged_at: Mapped[datetime | None]


class SosRequest(Base):
    """One Idempotency-Key seen from an elder's device, and what it produced."""

    __tablename__ = "sos_request"
    __table_args__ = (UniqueConstraint("elder_id", "idempotency_key"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    elder_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("elder.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    incident_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = created_at_column()


class Offer(Base):
    """An incident offered to one responder; at most one per responder and incident."""

    __tablename__ = "offer"
    __table_args__ = (
        UniqueConstraint("incident_id", "responder_id"),
        Index("ix_offer_responder_id_state", "responder_id", "state"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    incident_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), index=True
    )
    responder_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("responder.id", ondelete="CASCADE"))
    wave: Mapped[int] = mapped_column(SmallInteger)
    state: Mapped[OfferState] = mapped_column(
        Enum(OfferState, name="offer_state", **enum_column_kwargs(OfferState)),
        default=OfferState.PENDING,
    )
    distance_m: Mapped[float | None] = mapped_column(Float)
    sent_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime]
    received_at: Mapped[datetime | None]
    responded_at: Mapped[datetime | None]


class Deadline(Base):
    """A timer as a row: claimed with FOR UPDATE SKIP LOCKED by any running worker.

    About an incident, or (check-ins) about an elder and one cycle of their plan.
    """

    __tablename__ = "deadline"
    __table_args__ = (
        Index("ix_deadline_due", "due_at", postgresql_where=text("fired_at is null")),
        CheckConstraint("num_nonnulls(incident_id, elder_id) = 1", name="incident_or_elder"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    incident_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("incident.id", ondelete="CASCADE"), index=True
    )
    elder_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("elder.id", ondelete="CASCADE"), index=True
    )
    # The check-in deadline (CheckinPlan.due_at) this one belongs to.
    cycle_at: Mapped[datetime | None]
    kind: Mapped[DeadlineKind] = mapped_column(
        Enum(DeadlineKind, name="deadline_kind", **enum_column_kwargs(DeadlineKind))
    )
    offer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("offer.id", ondelete="CASCADE"))
    responder_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("responder.id", ondelete="CASCADE")
    )
    due_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]
    # A handler that failed is retried later (see dispatch.deadlines), never dropped.
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at_column()


class DispatchPolicyRow(Base):
    """An organization's own dispatch policy (defaults apply without a row)."""

    __tablename__ = "dispatch_policy"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE"), primary_key=True
    )
    policy: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class MedicalAccess(Base):
    """One disclosure of an elder's medical facts or contacts: who, when, through what.

    Holds no medical data. ``elder_id`` and ``incident_id`` carry no foreign key: the log
    outlives an erased elder (it is the record of who saw the data before).
    """

    __tablename__ = "medical_access"
    __table_args__ = (Index("ix_medical_access_elder_id_at", "elder_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organization.id", ondelete="CASCADE")
    )
    elder_id: Mapped[uuid.UUID]
    incident_id: Mapped[uuid.UUID | None]
    principal_kind: Mapped[PrincipalKind] = mapped_column(
        Enum(PrincipalKind, name="principal_kind", **enum_column_kwargs(PrincipalKind))
    )
    user_id: Mapped[uuid.UUID | None]
    device_token_id: Mapped[uuid.UUID | None]
    what: Mapped[AccessKind] = mapped_column(
        Enum(AccessKind, name="access_kind", **enum_column_kwargs(AccessKind))
    )
