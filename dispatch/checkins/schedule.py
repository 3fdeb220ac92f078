"""The arithmetic of check-in cycles: pure, no I/O (tests run days of it in a loop)."""

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


class Verdict(enum.StrEnum):
    ON_TIME = "on_time"  # captured by the deadline
    LATE = "late"  # after the deadline, within the grace period
    AFTER_GRACE = "after_grace"  # after the grace period: the family may have been told
    EARLY = "early"  # before the cycle's window opened: stored, not counted


@dataclass(frozen=True)
class Rules:
    times: Sequence[time]  # local times; empty with an inactivity timer
    inactivity_s: int | None
    grace_s: int
    window_s: int
    tz: str


def next_due(rules: Rules, after: datetime) -> datetime:
    """The first deadline strictly after ``after``: the next scheduled local time, or
    ``inactivity_s`` after it."""
    if rules.inactivity_s is not None:
        return after + timedelta(seconds=rules.inactivity_s)
    zone = ZoneInfo(rules.tz)
    day = after.astimezone(zone).date()
    candidates = (
        datetime.combine(day + timedelta(days=d), t, tzinfo=zone)
        for d in (0, 1, 2)
        for t in rules.times
    )
    return min(c for c in candidates if c > after)


def window_opens(rules: Rules, due_at: datetime) -> datetime | None:
    """From when a check-in counts for the deadline ``due_at`` (None: any time)."""
    if rules.inactivity_s is not None:
        return None
    return due_at - timedelta(seconds=rules.window_s)


def judge(rules: Rules, due_at: datetime, captured_at: datetime) -> Verdict:
    """How a check-in captured at ``captured_at`` stands against the deadline ``due_at``."""
    opens = window_opens(rules, due_at)
    if opens is not None and captured_at < opens:
        return Verdict.EARLY
    if captured_at <= due_at:
        return Verdict.ON_TIME
    if captured_at <= due_at + timedelta(seconds=rules.grace_s):
        return Verdict.LATE
    return Verdict.AFTER_GRACE


def following(rules: Rules, due_at: datetime, captured_at: datetime) -> datetime:
    """The deadline after a check-in at ``captured_at`` settled ``due_at``.

    With an inactivity timer the clock starts again at the check-in. With scheduled
    times it is the next time after both, skipping any whose window the same
    check-in already covers (a phone offline all day sends one check-in for them).
    """
    if rules.inactivity_s is not None:
        return next_due(rules, max(due_at - timedelta(seconds=rules.inactivity_s), captured_at))
    nxt = next_due(rules, due_at)
    while judge(rules, nxt, captured_at) is not Verdict.EARLY:
        nxt = next_due(rules, nxt)
    return nxt


def local_hhmm(at: datetime, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%H:%M")
