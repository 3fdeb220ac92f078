import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from core.tenancy.schemas import Email, Name, Password, Phone
from core.types import Latitude, Longitude, UtcDateTime
from dispatch.enums import (
    IncidentState,
    Language,
    LocationSource,
    OfferState,
    Outcome,
    ResponderKind,
    Trigger,
)
from geo.schemas import ZoneRef

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Skill = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
AccuracyM = Annotated[float, Field(ge=0, le=100_000, allow_inf_nan=False)]
BatteryPct = Annotated[int, Field(ge=0, le=100)]
MAX_CLOCK_SKEW = timedelta(minutes=5)


# A phone whose clock was reset says 1970; nothing this service stores is that old.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)


def _not_in_future(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a time zone (e.g. end with Z)")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00+07:00 is before year 1 in UTC: Python cannot represent it.
        raise ValueError("timestamp is out of range") from None
    if utc > datetime.now(UTC) + MAX_CLOCK_SKEW:
        raise ValueError("timestamp is in the future")
    if utc < EARLIEST:
        raise ValueError("timestamp is before 2000: the phone's clock is wrong")
    return utc


PastTimestamp = Annotated[datetime, AfterValidator(_not_in_future)]


class PointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lat: Latitude
    lon: Longitude


class PointOut(BaseModel):
    lat: float
    lon: float


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lat: Latitude
    lon: Longitude
    accuracy_m: AccuracyM | None = None
    recorded_at: PastTimestamp | None = None


class LocationOut(PointOut):
    accuracy_m: float | None
    recorded_at: UtcDateTime


# --- responders ---------------------------------------------------------------


class ResponderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    email: Email
    password: Password
    phone: Phone
    kind: ResponderKind
    skills: Annotated[list[Skill], Field(max_length=30)] = []
    zone_ids: Annotated[list[uuid.UUID], Field(max_length=200)] = []


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


class DutyStatusIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    on_duty: bool


class DutyStatusOut(BaseModel):
    on_duty: bool
    changed_at: UtcDateTime


class ZoneTeamIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    responder_ids: Annotated[list[uuid.UUID], Field(max_length=500)]


class ZoneTeamOut(BaseModel):
    zone_id: uuid.UUID
    responder_ids: list[uuid.UUID]


# --- elders -------------------------------------------------------------------


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    phone: Phone
    relation: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""


BloodType = Literal["A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-", "A", "B", "AB", "O"]


class ElderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    home: PointIn
    dependency_group: Annotated[int, Field(ge=1, le=3)]
    phone: Phone | None = None
    address: Annotated[str, StringConstraints(max_length=1000)] | None = None
    conditions: Annotated[list[ShortText], Field(max_length=50)] = []
    medications: Annotated[list[ShortText], Field(max_length=50)] = []
    allergies: Annotated[list[ShortText], Field(max_length=50)] = []
    blood_type: BloodType | None = None
    contacts: Annotated[list[Contact], Field(max_length=10)] = []
    language: Language = Language.TH


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


class DeviceTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None


class DeviceTokenOut(BaseModel):
    id: uuid.UUID
    elder_id: uuid.UUID
    device_token: str = Field(description="Shown once; only its hash is stored")
    created_at: UtcDateTime


# --- SOS ----------------------------------------------------------------------


class SosIn(BaseModel):
    # Unknown fields are ignored, not refused: an SOS from a newer app version
    # must never fail because it sends something this server does not know.
    model_config = ConfigDict(extra="ignore")

    lat: Latitude | None = None
    lon: Longitude | None = None
    accuracy_m: AccuracyM | None = None
    captured_at: PastTimestamp | None = None
    trigger: Trigger = Trigger.BUTTON
    battery_pct: BatteryPct | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> "SosIn":
        if (self.lat is None) != (self.lon is None):
            raise ValueError("send both lat and lon, or neither (the home location is used)")
        if self.trigger is Trigger.STAFF:
            raise ValueError("trigger 'staff' is only for incidents opened by staff")
        return self


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


# --- incidents ----------------------------------------------------------------


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


class IncidentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    elder_id: uuid.UUID
    lat: Latitude | None = None
    lon: Longitude | None = None
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> "IncidentCreate":
        if (self.lat is None) != (self.lon is None):
            raise ValueError("send both lat and lon, or neither (the home location is used)")
        return self


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Outcome
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    responder_id: uuid.UUID


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


# --- reports --------------------------------------------------------------------


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
