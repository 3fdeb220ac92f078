"""What clients send to dispatch: the commands' bodies, validated at the edge.

Every model refuses unknown fields (``InputModel``) except ``SosIn``: an SOS from a
newer app version must never fail on a field this server does not know.
"""

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

from core.inputs import InputModel
from core.tenancy.schemas import Email, Name, Password, Phone
from core.types import Latitude, Longitude
from dispatch.enums import Language, Outcome, ResponderKind, Trigger

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


class PointIn(InputModel):
    lat: Latitude
    lon: Longitude


class LocationIn(InputModel):
    lat: Latitude
    lon: Longitude
    accuracy_m: AccuracyM | None = None
    recorded_at: PastTimestamp | None = None


class ResponderCreate(InputModel):
    name: Name
    email: Email
    password: Password
    phone: Phone
    kind: ResponderKind
    skills: Annotated[list[Skill], Field(max_length=30)] = []
    zone_ids: Annotated[list[uuid.UUID], Field(max_length=200)] = []


def _argon2_hash(value: str) -> str:
    if not value.startswith("$argon2id$") or value.count("$") != 5:
        raise ValueError("an Argon2id hash in PHC form ($argon2id$v=19$m=...$salt$hash)")
    return value


class ResponderImport(InputModel):
    """One responder of a bulk import (``phikat responders import``): as
    ``ResponderCreate``, with the password already hashed (Argon2id), so that thousands of
    accounts load in seconds and no plaintext password sits in the file."""

    name: Name
    email: Email
    password_hash: Annotated[str, AfterValidator(_argon2_hash)]
    phone: Phone
    kind: ResponderKind
    skills: Annotated[list[Skill], Field(max_length=30)] = []
    zone_ids: Annotated[list[uuid.UUID], Field(max_length=200)] = []


class DutyStatusIn(InputModel):
    on_duty: bool


class ZoneTeamIn(InputModel):
    responder_ids: Annotated[list[uuid.UUID], Field(max_length=500)]


class Contact(InputModel):
    name: Name
    phone: Phone
    relation: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    # How the family contact is told: LINE once linked (SMS until then, and when LINE
    # fails), SMS only, or both (docs/line.md).
    notify: Literal["line", "sms", "both"] = "line"


BloodType = Literal["A+", "A-", "B+", "B-", "AB+", "AB-", "O+", "O-", "A", "B", "AB", "O"]


class ElderCreate(InputModel):
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


class DeviceTokenCreate(InputModel):
    label: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None


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


class IncidentCreate(InputModel):
    elder_id: uuid.UUID
    lat: Latitude | None = None
    lon: Longitude | None = None
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> "IncidentCreate":
        if (self.lat is None) != (self.lon is None):
            raise ValueError("send both lat and lon, or neither (the home location is used)")
        return self


class ResolveIn(InputModel):
    outcome: Outcome
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None


class CancelIn(InputModel):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class AssignIn(InputModel):
    responder_id: uuid.UUID
