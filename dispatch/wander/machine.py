"""The per-elder wander state machine: pure, no I/O, fed one fix at a time.

Each fix arrives with two measures computed against the elder's safe zone (in PostGIS
by the caller, or by a test's geometry):

- ``outside_fraction``: the share of the fix's accuracy circle that lies outside the
  zone grown by the *leaving* margin. Above ``outside_share`` the fix counts as outside.
- ``inside_fraction``: the share of the accuracy circle inside the zone shrunk by the
  *entering* margin. Above ``inside_share`` the fix counts as back inside.

Between the two (near the border) a fix is "ambiguous" and changes nothing: that band
is the hysteresis that stops a walk along the border from flapping.

States:

- ``inside``: the last usable fix was inside (or the machine has just started).
- ``leaving``: usable fixes are outside, but not yet enough of them, nor long enough.
- ``outside``: the alert was raised (once) and stays raised until a fix is back inside.
- ``unknown``: the newest fix is stale or too inaccurate to judge. Shown, never alerted.

An alert is raised on the transition to ``outside``, which needs a usable (fresh and
accurate) outside fix AND either ``min_outside_fixes`` consecutive usable outside fixes
or ``dwell_s`` seconds since the first of them. Fixes are taken in ``captured_at``
order: a fix not newer than the last one taken is ignored (a late one never moves the
state backwards).
"""

import enum
from dataclasses import dataclass, replace
from datetime import datetime, timedelta


class WanderState(enum.StrEnum):
    INSIDE = "inside"
    LEAVING = "leaving"
    OUTSIDE = "outside"
    UNKNOWN = "unknown"


class FixVerdict(enum.StrEnum):
    INSIDE = "inside"
    OUTSIDE = "outside"
    BORDER = "border"  # between the margins: no evidence either way
    POOR = "poor"  # accuracy worse than the threshold
    STALE = "stale"  # captured too long before it was received
    LATE = "late"  # not newer than the last fix taken: ignored


@dataclass(frozen=True)
class Thresholds:
    """Defaults: see docs/safe-zones.md ("Thresholds") for why."""

    max_accuracy_m: float = 100.0
    outside_share: float = 0.5
    inside_share: float = 0.5
    leave_margin_m: float = 50.0
    enter_margin_m: float = 20.0
    min_outside_fixes: int = 4
    dwell_s: float = 300.0
    stale_after_s: float = 600.0


@dataclass(frozen=True)
class Fix:
    captured_at: datetime
    accuracy_m: float
    outside_fraction: float
    inside_fraction: float


@dataclass(frozen=True)
class Tracker:
    state: WanderState = WanderState.INSIDE
    last_fix_at: datetime | None = None
    # The first usable outside fix of the current excursion, and how many in a row.
    left_at: datetime | None = None
    outside_fixes: int = 0
    # The state before an "unknown" fix, to return to when judging resumes.
    judged: WanderState = WanderState.INSIDE


@dataclass(frozen=True)
class Step:
    tracker: Tracker
    verdict: FixVerdict
    alert: bool = False  # raise the wander alert now (at most once per excursion)
    returned: bool = False  # back inside after an alert


def classify(fix: Fix, t: Thresholds, *, received_at: datetime) -> FixVerdict:
    if received_at - fix.captured_at > timedelta(seconds=t.stale_after_s):
        return FixVerdict.STALE
    if fix.accuracy_m > t.max_accuracy_m:
        return FixVerdict.POOR
    if fix.outside_fraction > t.outside_share:
        return FixVerdict.OUTSIDE
    if fix.inside_fraction > t.inside_share:
        return FixVerdict.INSIDE
    return FixVerdict.BORDER


def step(tr: Tracker, fix: Fix, t: Thresholds, *, received_at: datetime) -> Step:
    """Take one fix; ``received_at`` is the server's clock when the fix arrived."""
    if tr.last_fix_at is not None and fix.captured_at <= tr.last_fix_at:
        return Step(tr, FixVerdict.LATE)
    verdict = classify(fix, t, received_at=received_at)
    tr = replace(tr, last_fix_at=fix.captured_at)
    if verdict in (FixVerdict.STALE, FixVerdict.POOR):
        # Unknown is shown, never alerted; the excursion's evidence is kept as it was.
        return Step(replace(tr, state=WanderState.UNKNOWN), verdict)
    current = tr.judged
    if verdict is FixVerdict.BORDER:
        return Step(replace(tr, state=current), verdict)
    if verdict is FixVerdict.INSIDE:
        back = current is WanderState.OUTSIDE
        calm = replace(
            tr, state=WanderState.INSIDE, judged=WanderState.INSIDE, left_at=None, outside_fixes=0
        )
        return Step(calm, verdict, returned=back)
    # Outside.
    if current is WanderState.OUTSIDE:
        return Step(replace(tr, state=current, outside_fixes=tr.outside_fixes + 1), verdict)
    left_at = tr.left_at or fix.captured_at
    count = tr.outside_fixes + 1
    dwelt = (fix.captured_at - left_at).total_seconds() >= t.dwell_s
    if count >= t.min_outside_fixes or dwelt:
        alerted = replace(
            tr,
            state=WanderState.OUTSIDE,
            judged=WanderState.OUTSIDE,
            left_at=left_at,
            outside_fixes=count,
        )
        return Step(alerted, verdict, alert=True)
    leaving = replace(
        tr,
        state=WanderState.LEAVING,
        judged=WanderState.LEAVING,
        left_at=left_at,
        outside_fixes=count,
    )
    return Step(leaving, verdict)
