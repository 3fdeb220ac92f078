"""What the privacy routes answer: the access log, an elder's export."""

import uuid

from pydantic import BaseModel, Field

from core.types import UtcDateTime
from dispatch.checkins.views import CheckinPlanOut
from dispatch.views import ElderOut, IncidentOut, MedicalAccessOut
from dispatch.wander.views import SafeZoneOut
from notifications.models import Platform


class DeviceTokenRecord(BaseModel):
    """An elder device token's metadata; the secret's hash never leaves the server."""

    id: uuid.UUID
    label: str | None
    created_by_user_id: uuid.UUID | None
    created_at: UtcDateTime
    last_used_at: UtcDateTime | None
    revoked_at: UtcDateTime | None


class PushDeviceRecord(BaseModel):
    id: uuid.UUID
    platform: Platform
    fcm_token_hint: str = Field(
        description="The registration token's last characters, enough to tell phones apart"
    )
    created_at: UtcDateTime
    updated_at: UtcDateTime


class SosRequestRecord(BaseModel):
    id: uuid.UUID
    idempotency_key: str
    incident_id: uuid.UUID
    created_at: UtcDateTime


class CheckinRecord(BaseModel):
    id: uuid.UUID
    captured_at: UtcDateTime
    received_at: UtcDateTime
    by_user_id: uuid.UUID | None
    cycle_at: UtcDateTime | None
    verdict: str


class PositionRecord(BaseModel):
    """A position the elder's phone sent outside incidents (for the safe zones)."""

    captured_at: UtcDateTime
    received_at: UtcDateTime
    lat: float
    lon: float
    accuracy_m: float


class MessageRecord(BaseModel):
    """A message sent (or to be sent) about the elder or to them or their family."""

    id: uuid.UUID
    incident_id: uuid.UUID | None
    kind: str
    route: str
    recipient_user_id: uuid.UUID | None
    recipient_elder_id: uuid.UUID | None
    recipient_phone: str | None
    language: str
    title: str | None
    body: str | None
    state: str
    attempts: int
    created_at: UtcDateTime
    sent_at: UtcDateTime | None


class ElderExport(BaseModel):
    """Everything Phikat holds on one elder (PDPA right of access)."""

    generated_at: UtcDateTime
    location_retention_days: int = Field(
        description="Positions reported during an incident are deleted this long after it closed"
    )
    elder: ElderOut
    device_tokens: list[DeviceTokenRecord]
    push_devices: list[PushDeviceRecord]
    incidents: list[IncidentOut]
    sos_requests: list[SosRequestRecord]
    messages: list[MessageRecord]
    medical_access: list[MedicalAccessOut]
    checkin_plan: CheckinPlanOut | None
    checkins: list[CheckinRecord]
    safe_zones: list[SafeZoneOut]
    positions: list[PositionRecord] = Field(
        description="Positions outside incidents, kept location_retention_days"
    )
