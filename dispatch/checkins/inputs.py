"""What officers send to set a check-in plan, and what a check-in carries."""

from datetime import UTC, datetime, time, timedelta
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from core.inputs import InputModel
from dispatch.inputs import EARLIEST, ShortText

MAX_TIMES = 6


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a time zone (e.g. end with Z)")
    if value < EARLIEST:
        raise ValueError("timestamp is before 2000: the phone's clock is wrong")
    return value


def _whole_minutes(values: list[time]) -> list[time]:
    if any(t.second or t.microsecond or t.tzinfo for t in values):
        raise ValueError("times are local HH:MM, without seconds or a zone")
    if len(set(values)) != len(values):
        raise ValueError("a time is given twice")
    return sorted(values)


AwareTimestamp = Annotated[datetime, AfterValidator(_aware)]
MAX_PAUSE = timedelta(days=366)


def _within_a_year(value: datetime) -> datetime:
    if value > datetime.now(UTC) + MAX_PAUSE:
        raise ValueError("a pause ends within a year: end the plan instead")
    return value


class CheckinPlanIn(InputModel):
    """Daily ``times`` (local time of the organization), or an ``inactivity_s`` timer
    that check-ins and the phone's activity pings reset: one of the two."""

    times: Annotated[list[time], Field(max_length=MAX_TIMES), AfterValidator(_whole_minutes)] = []
    inactivity_s: Annotated[int, Field(ge=3600, le=7 * 86_400)] | None = None
    grace_s: Annotated[int, Field(ge=60, le=6 * 3600)] = 900
    # The second, shorter period: family told, then an incident (default: 10 min).
    family_wait_s: Annotated[int, Field(ge=60, le=6 * 3600)] | None = None
    # How long before a scheduled time a check-in counts for it.
    window_s: Annotated[int, Field(ge=600, le=12 * 3600)] = 3 * 3600
    # A reminder this long before the deadline (0: only at it).
    reminder_before_s: Annotated[int, Field(ge=0, le=4 * 3600)] = 900
    tell_family_on_checkin: bool = False
    # A holiday: no reminders or alerts until then.
    paused_until: Annotated[AwareTimestamp, AfterValidator(_within_a_year)] | None = None

    @model_validator(mode="after")
    def _one_mode(self) -> "CheckinPlanIn":
        if bool(self.times) == (self.inactivity_s is not None):
            raise ValueError("give either 'times' (daily check-ins) or 'inactivity_s', not both")
        if self.family_wait_s is None:
            self.family_wait_s = min(600, self.grace_s)
        if self.family_wait_s > self.grace_s:
            raise ValueError("family_wait_s is the second, shorter period: at most grace_s")
        return self


class CheckinIn(InputModel):
    """A check-in. ``captured_at``: when it was pressed (a phone that was offline sends
    it later); judged against the deadline. Absent: when it arrives."""

    captured_at: AwareTimestamp | None = None
    note: ShortText | None = None
