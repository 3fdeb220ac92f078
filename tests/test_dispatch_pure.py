"""Unit tests of the pure dispatch logic: ranking, state machines, policy (no database)."""

import uuid

import pytest
from pydantic import ValidationError

from dispatch.enums import IncidentState, OfferState, ResponderKind
from dispatch.policy_document import DEFAULT_POLICY, DispatchPolicy, Wave
from dispatch.ranking import Candidate, eligible, rank
from dispatch.state_machine import IllegalTransition, is_closed, move_incident, move_offer


def cand(
    name: str,
    *,
    fix: float | None = None,
    zone: float | None = None,
    team: bool = False,
    busy: bool = False,
    kind: ResponderKind = ResponderKind.VOLUNTEER,
    skills: tuple[str, ...] = (),
) -> Candidate:
    return Candidate(
        responder_id=uuid.uuid5(uuid.NAMESPACE_DNS, name),
        kind=kind,
        skills=frozenset(skills),
        in_zone_team=team,
        busy=busy,
        fix_distance_m=fix,
        zone_distance_m=zone,
    )


def names(ranked: list[Candidate], pool: dict[str, Candidate]) -> list[str]:
    by_id = {c.responder_id: n for n, c in pool.items()}
    return [by_id[c.responder_id] for c in ranked]


def test_nearest_first_and_busy_last() -> None:
    pool = {
        "far": cand("far", fix=900),
        "near": cand("near", fix=100),
        "busy-nearest": cand("busy-nearest", fix=10, busy=True),
        "mid": cand("mid", fix=400),
    }
    assert names(rank(pool.values(), radius_m=1000), pool) == ["near", "mid", "far", "busy-nearest"]


def test_a_fresh_fix_wins_over_the_zone_estimate() -> None:
    c = cand("x", fix=800, zone=0)
    assert c.distance_m == 800
    assert cand("y", zone=250).distance_m == 250
    assert cand("z").distance_m is None


def test_team_members_are_eligible_at_any_distance_others_within_the_radius() -> None:
    assert eligible(cand("team", fix=50_000, team=True), 1000)
    assert eligible(cand("team-unknown", team=True), 1000)
    assert not eligible(cand("outsider", fix=1500), 1000)
    assert eligible(cand("outsider", fix=1000), 1000)
    assert not eligible(cand("nowhere"), 1000)


def test_ties_are_broken_by_skills_then_kind_then_id() -> None:
    pool = {
        "rescue": cand("rescue", fix=200, kind=ResponderKind.RESCUE),
        "cg": cand("cg", fix=200, kind=ResponderKind.CAREGIVER),
        "cpr": cand("cpr", fix=200, kind=ResponderKind.RESCUE, skills=("cpr", "aed")),
        "knitting": cand("knitting", fix=200, kind=ResponderKind.RESCUE, skills=("knitting",)),
    }
    ranked = names(rank(pool.values(), radius_m=1000), pool)
    assert ranked[:2] == ["cpr", "cg"]
    assert set(ranked[2:]) == {"rescue", "knitting"}
    assert ranked == names(rank(reversed(list(pool.values())), radius_m=1000), pool)


def test_excluded_responders_are_not_ranked() -> None:
    pool = {"a": cand("a", fix=1), "b": cand("b", fix=2)}
    ranked = rank(pool.values(), radius_m=10, exclude=frozenset({pool["a"].responder_id}))
    assert names(ranked, pool) == ["b"]


@pytest.mark.parametrize(
    ("current", "target", "ok"),
    [
        (IncidentState.DISPATCHING, IncidentState.ACCEPTED, True),
        (IncidentState.DISPATCHING, IncidentState.ON_SCENE, False),
        (IncidentState.DISPATCHING, IncidentState.RESOLVED, True),
        (IncidentState.ACCEPTED, IncidentState.ON_SCENE, True),
        (IncidentState.ACCEPTED, IncidentState.ACCEPTED, True),
        (IncidentState.ON_SCENE, IncidentState.ACCEPTED, False),
        (IncidentState.ON_SCENE, IncidentState.RESOLVED, True),
        (IncidentState.RESOLVED, IncidentState.CANCELLED, False),
        (IncidentState.CANCELLED, IncidentState.RESOLVED, False),
        (IncidentState.CANCELLED, IncidentState.DISPATCHING, False),
    ],
)
def test_incident_transitions(current: IncidentState, target: IncidentState, ok: bool) -> None:
    if ok:
        assert move_incident(current, target) is target
    else:
        with pytest.raises(IllegalTransition, match=current.value):
            move_incident(current, target)


def test_every_open_state_can_be_cancelled_and_closed_states_are_final() -> None:
    for state in (IncidentState.DISPATCHING, IncidentState.ACCEPTED, IncidentState.ON_SCENE):
        assert move_incident(state, IncidentState.CANCELLED) is IncidentState.CANCELLED
        assert not is_closed(state)
    assert is_closed(IncidentState.RESOLVED) and is_closed(IncidentState.CANCELLED)


@pytest.mark.parametrize(
    ("current", "target", "ok"),
    [
        (OfferState.PENDING, OfferState.ACCEPTED, True),
        (OfferState.EXPIRED, OfferState.ACCEPTED, True),
        (OfferState.DECLINED, OfferState.ACCEPTED, False),
        (OfferState.WITHDRAWN, OfferState.ACCEPTED, False),
        (OfferState.PENDING, OfferState.WITHDRAWN, True),
        (OfferState.DECLINED, OfferState.WITHDRAWN, False),
        (OfferState.EXPIRED, OfferState.DECLINED, False),
    ],
)
def test_offer_transitions(current: OfferState, target: OfferState, ok: bool) -> None:
    if ok:
        assert move_offer(current, target) is target
    else:
        with pytest.raises(IllegalTransition):
            move_offer(current, target)


def test_default_policy_follows_goodsam_then_widens() -> None:
    first = DEFAULT_POLICY.wave(1)
    assert first == Wave(size=3, radius_m=1000, timeout_s=60)
    assert DEFAULT_POLICY.wave(len(DEFAULT_POLICY.waves) + 1) is None
    assert DEFAULT_POLICY.wave(0) is None
    assert DEFAULT_POLICY.arrival_deadline_s == 20 * 60
    assert DEFAULT_POLICY.location_fresh_s == 15 * 60


@pytest.mark.parametrize(
    "bad",
    [
        {"waves": []},
        {
            "waves": [
                {"size": 3, "radius_m": 3000, "timeout_s": 60},
                {"size": 3, "radius_m": 1000, "timeout_s": 60},
            ]
        },
        {"waves": [{"size": 0, "radius_m": 1000, "timeout_s": 60}]},
        {"waves": [{"size": 3, "radius_m": 1000, "timeout_s": 5}]},
        {"officer_timeout_s": 0},
        {"surprise": 1},
    ],
)
def test_invalid_policies_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        DispatchPolicy.model_validate(bad)
