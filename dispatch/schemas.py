import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

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
from dispatch.enums import IncidentState, Language, LocationSource, ResponderKind, Trigger
from geo.schemas import ZoneRef

ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Skill = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
AccuracyM = Annotated[float, Field(ge=0, le=100_000, allow_inf_nan=False)]
MAX_CLOCK_SKEW = timedelta(minutes=5)


def _not_in_future(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a time zone (e.g. end with Z)")
    if value > datetime.now(UTC) + MAX_CLOCK_SKEW:
        raise ValueError("timestamp is in the future")
    return value.astimezone(UTC)


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


class ElderOut(BaseModel):
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    phone: str | None
    home: PointOut
    address: str | None
    dependency_group: int
    conditions: list[str]
    medications: list[str]
    allergies: list[str]
    blood_type: str | None
    contacts: list[Contact]
    language: Language
    created_at: UtcDateTime


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
    battery_pct: Annotated[int, Field(ge=0, le=100)] | None = None

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
