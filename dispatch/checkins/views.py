"""What the API returns about check-in plans and check-ins."""

import enum
import uuid
from datetime import datetime

from pydantic import BaseModel

from dispatch.checkins.schedule import Verdict


class CheckinState(enum.StrEnum):
    OK = "ok"  # checked in; the next window has not opened
    DUE = "due"  # the window is open (``late`` once the deadline has passed)
    MISSED = "missed"  # the grace period passed: family told, then an incident
    PAUSED = "paused"  # a holiday pause until ``paused_until``


class CheckinStatusOut(BaseModel):
    state: CheckinState
    due_at: datetime
    window_opens_at: datetime | None
    grace_until: datetime
    late: bool
    paused_until: datetime | None
    last_checkin_at: datetime | None
    # The incident a missed check-in opened (or joined), while the elder has not checked in.
    incident_id: uuid.UUID | None


class CheckinPlanOut(BaseModel):
    elder_id: uuid.UUID
    times: list[str]
    inactivity_s: int | None
    grace_s: int
    family_wait_s: int
    window_s: int
    reminder_before_s: int
    tell_family_on_checkin: bool
    paused_until: datetime | None
    status: CheckinStatusOut


class CheckinOut(BaseModel):
    id: uuid.UUID
    captured_at: datetime
    verdict: Verdict
    # The deadline it counted for; null when it did not count (``early``).
    counted_for: datetime | None
    status: CheckinStatusOut


class ElderCheckinOut(BaseModel):
    """A row of the officers' map: an elder with a plan, and where it stands."""

    elder_id: uuid.UUID
    elder_name: str
    status: CheckinStatusOut
