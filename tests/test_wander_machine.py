"""The wander state machine alone (pure, fast): rules, and the three recorded scenes."""

import itertools
from datetime import UTC, datetime, timedelta

from dispatch.wander.machine import (
    Fix,
    FixVerdict,
    Step,
    Thresholds,
    Tracker,
    WanderState,
    step,
)
from tests.wander_sim import SimFix, along_border, at_home, fractions, walk_away

T0 = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)  # 20:00 in Bangkok
T = Thresholds()
RADIUS = 200.0


def fix(at_s: float, *, out: float, inside: float, acc: float = 20.0) -> Fix:
    return Fix(T0 + timedelta(seconds=at_s), acc, out, inside)


def run(fixes: list[Fix], t: Thresholds = T) -> list[Step]:
    tr, steps = Tracker(), []
    for f in fixes:
        s = step(tr, f, t, received_at=f.captured_at + timedelta(seconds=5))
        steps.append(s)
        tr = s.tracker
    return steps


def sim(fixes: list[SimFix], t: Thresholds = T) -> list[Step]:
    made = []
    for f in fixes:
        out, inside = fractions(f, RADIUS, t.leave_margin_m, t.enter_margin_m)
        made.append(Fix(f.at, f.accuracy_m, out, inside))
    return run(made, t)


def test_consecutive_outside_fixes_raise_one_alert() -> None:
    steps = run([fix(i * 30, out=0.9, inside=0.0) for i in range(8)])
    assert [s.alert for s in steps] == [False, False, False, True, False, False, False, False]
    assert steps[2].tracker.state is WanderState.LEAVING
    assert steps[-1].tracker.state is WanderState.OUTSIDE


def test_dwell_time_alone_raises_it_with_sparse_fixes() -> None:
    t = Thresholds(min_outside_fixes=10, dwell_s=300)
    steps = run(
        [fix(0, out=0.9, inside=0), fix(200, out=0.9, inside=0), fix(301, out=0.9, inside=0)], t
    )
    assert [s.alert for s in steps] == [False, False, True]


def test_an_inside_fix_resets_the_count() -> None:
    fixes = [
        fix(0, out=0.9, inside=0),
        fix(30, out=0.9, inside=0),
        fix(60, out=0.9, inside=0),
        fix(90, out=0.0, inside=0.9),
        fix(120, out=0.9, inside=0),
    ]
    steps = run(fixes)
    assert not any(s.alert for s in steps)
    assert steps[-1].tracker.outside_fixes == 1


def test_poor_and_stale_fixes_are_unknown_never_alerts() -> None:
    steps = run([fix(i * 30, out=1.0, inside=0, acc=500) for i in range(20)])
    assert not any(s.alert for s in steps)
    assert {s.verdict for s in steps} == {FixVerdict.POOR}
    assert steps[-1].tracker.state is WanderState.UNKNOWN
    tr = Tracker()
    old = fix(0, out=1.0, inside=0)
    s = step(tr, old, T, received_at=old.captured_at + timedelta(hours=1))
    assert s.verdict is FixVerdict.STALE and s.tracker.state is WanderState.UNKNOWN and not s.alert


def test_late_fixes_never_move_the_state_backwards() -> None:
    steps = run([fix(i * 30, out=0.9, inside=0) for i in range(4)])
    tr = steps[-1].tracker
    assert tr.state is WanderState.OUTSIDE
    late = step(tr, fix(15, out=0.0, inside=1.0), T, received_at=T0 + timedelta(seconds=200))
    assert late.verdict is FixVerdict.LATE and late.tracker == tr


def test_the_border_band_changes_nothing() -> None:
    steps = run(
        [fix(0, out=0.9, inside=0), fix(30, out=0.3, inside=0.3), fix(60, out=0.9, inside=0)]
    )
    assert steps[1].verdict is FixVerdict.BORDER
    assert steps[2].tracker.outside_fixes == 2


def test_back_inside_after_an_alert_is_reported_and_a_new_excursion_alerts_again() -> None:
    out = [fix(i * 30, out=0.9, inside=0) for i in range(4)]
    back = [fix(150, out=0, inside=0.9)]
    again = [fix(180 + i * 30, out=0.9, inside=0) for i in range(4)]
    steps = run(out + back + again)
    assert steps[4].returned
    assert sum(s.alert for s in steps) == 2


def test_scene_phone_at_home_for_24_hours_never_alerts() -> None:
    steps = sim(at_home(T0, hours=24, every_s=30, seed=14))
    assert len(steps) == 2880
    assert sum(s.alert for s in steps) == 0
    assert all(s.tracker.state is not WanderState.OUTSIDE for s in steps)


def test_scene_walk_away_alerts_within_the_dwell_time_of_crossing() -> None:
    fixes = walk_away(T0, minutes=20, every_s=30, seed=7)
    steps = sim(fixes)
    alerts = [f.at for f, s in zip(fixes, steps, strict=True) if s.alert]
    assert len(alerts) == 1
    crossing = T0 + timedelta(seconds=RADIUS / (4 / 3.6))
    assert timedelta(0) < alerts[0] - crossing <= timedelta(seconds=T.dwell_s)


def test_scene_walk_along_the_border_does_not_flap() -> None:
    for seed in range(5):
        steps = sim(along_border(T0, radius_m=RADIUS, minutes=60, every_s=30, seed=seed))
        assert sum(s.alert for s in steps) == 0
        states = [s.tracker.state for s in steps]
        assert WanderState.OUTSIDE not in states
        changes = sum(1 for a, b in itertools.pairwise(states) if a != b)
        assert changes <= 2
    # The same walk without margins or a count: the alarm the margins prevent.
    bare = Thresholds(leave_margin_m=0, enter_margin_m=0, min_outside_fixes=1)
    flapping = sim(along_border(T0, radius_m=RADIUS, minutes=60, every_s=30, seed=0), bare)
    assert sum(s.alert for s in flapping) > 10
