"""What dispatch answers: the read models of incidents, offers, responders and elders."""

import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from core.principal import PrincipalKind
from core.types import UtcDateTime
from dispatch.enums import (
    AccessKind,
    IncidentState,
    Language,
    LocationSource,
    OfferState,
    ResponderKind,
    Trigger,
)
from dispatch.inputs import Contact
from geo.schemas import ZoneRef


class PointOut(BaseModel):
    lat: float
    lon: float


class LocationOut(PointOut):
    accuracy_m: float | None
    recorded_at: UtcDateTime


class ResponderOut(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    email: str
    phone: str | None
    kind: ResponderKind
    skills: list[str]
    zone_ids: list[uuid.UUID]
    on_duty: bool
    last_location: LocationOut | None


class DutyStatusOut(BaseModel):
    on_duty: bool
    changed_at: UtcDateTime


class ZoneTeamOut(BaseModel):
    zone_id: uuid.UUID
    responder_ids: list[uuid.UUID]


class ElderSummary(BaseModel):
    """An elder in a list: no medical facts or contacts (those are one elder at a time,
    and every such read is logged)."""

    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    phone: str | None
    home: PointOut
    address: str | None
    dependency_group: int
    language: Language
    created_at: UtcDateTime


class ElderOut(ElderSummary):
    conditions: list[str]
    medications: list[str]
    allergies: list[str]
    blood_type: str | None
    contacts: list[Contact]


class DeviceTokenOut(BaseModel):
    id: uuid.UUID
    elder_id: uuid.UUID
    device_token: str = Field(description="Shown once; only its hash is stored")
    created_at: UtcDateTime


class SosOut(BaseModel):
    incident_id: uuid.UUID
    state: IncidentState
    location_source: LocationSource
    zone: ZoneRef | None
    fallback_phone: str
    created_at: UtcDateTime
    message: str = Field(description="What the elder's phone should show, in the elder's language")
    ignored: list[dict[str, str]] = Field(
        default_factory=list,
        description="Parts of the body that were unusable and dropped ({field, reason}); "
        "the SOS went ahead without them",
    )


class OfferOut(BaseModel):
    id: uuid.UUID
    responder_id: uuid.UUID
    wave: int
    state: OfferState
    distance_m: float | None
    sent_at: UtcDateTime
    expires_at: UtcDateTime
    received_at: UtcDateTime | None


class EventOut(BaseModel):
    id: int
    event: str
    incident_id: uuid.UUID | None
    at: UtcDateTime
    data: dict[str, Any]


class ElderMedical(BaseModel):
    conditions: list[str]
    medications: list[str]
    allergies: list[str]
    blood_type: str | None
    contacts: list[Contact]


class ElderInIncident(BaseModel):
    id: uuid.UUID
    name: str
    dependency_group: int
    language: Language
    home: PointOut
    medical: ElderMedical | None = Field(
        description="Only for officers and the assigned responder while the incident is open"
    )


class ResponderBrief(BaseModel):
    id: uuid.UUID
    name: str
    phone: str | None
    kind: ResponderKind
    location: LocationOut | None


class TrailPoint(BaseModel):
    source: Literal["responder", "elder"]
    responder_id: uuid.UUID | None
    lat: float
    lon: float
    accuracy_m: float | None
    recorded_at: UtcDateTime
    eta_s: int | None = None


class IncidentSummary(BaseModel):
    id: uuid.UUID
    state: IncidentState
    escalation_level: int
    trigger: Trigger
    location: PointOut
    location_source: LocationSource
    zone: ZoneRef | None
    elder_id: uuid.UUID | None = Field(description="null once the elder's record was erased")
    elder_name: str | None
    assigned_responder_id: uuid.UUID | None
    created_at: UtcDateTime
    accepted_at: UtcDateTime | None
    on_scene_at: UtcDateTime | None
    closed_at: UtcDateTime | None
    outcome: str | None


class IncidentOut(IncidentSummary):
    organization_id: uuid.UUID
    wave: int
    accuracy_m: float | None
    battery_pct: int | None
    note: str | None
    fallback_phone: str
    elder: ElderInIncident | None = Field(description="null once the elder's record was erased")
    responder: ResponderBrief | None
    offers: list[OfferOut]
    events: list[EventOut]
    trail: list[TrailPoint] = Field(description="Positions reported during the incident")


class OfferForResponder(BaseModel):
    """What a responder's phone shows for an offer: how far, who, where."""

    offer: OfferOut
    incident_id: uuid.UUID
    incident_state: IncidentState
    trigger: Trigger
    location: PointOut
    accuracy_m: float | None
    zone: ZoneRef | None
    elder_name: str
    dependency_group: int


class Measure(BaseModel):
    """Seconds from the SOS to a step, over the incidents that reached it."""

    count: int
    p50_s: float | None
    p90_s: float | None


class ZoneResponseTimes(BaseModel):
    zone_id: uuid.UUID | None
    zone_name: str | None
    incidents: int
    first_receipt: Measure
    accept: Measure
    arrival: Measure


class ResponseTimes(BaseModel):
    start: UtcDateTime
    end: UtcDateTime
    incidents: int
    first_receipt: Measure = Field(description="SOS to the first offer reaching a phone")
    accept: Measure = Field(description="SOS to a responder accepting")
    arrival: Measure = Field(description="SOS to the responder on scene")
    zones: list[ZoneResponseTimes]


class MedicalAccessOut(BaseModel):
    id: int
    at: UtcDateTime
    organization_id: uuid.UUID
    elder_id: uuid.UUID
    incident_id: uuid.UUID | None
    principal_kind: PrincipalKind
    user_id: uuid.UUID | None
    device_token_id: uuid.UUID | None
    what: AccessKind
