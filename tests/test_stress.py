"""Issue 11: many people acting on the same incidents at once, against real processes
(two `phikat serve`, one `phikat worker`): no 5xx, no error in any log, every incident
and offer legal and settled, one incident per SOS key, gapless event ids, and every
live socket complete or closed with 1011/4401. The harness is tests/stress/; longer
runs for the figures: scripts/stress --rounds 1000."""

import random
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from tests.stress import StressConfig, run_stress
from tests.stress.answers import SosAnswer
from tests.stress.checks import (
    Snapshot,
    check_chain,
    check_event_ids,
    check_one_active_per_elder,
    check_sos,
)
from tests.stress.live import Connection, LiveChain


@pytest.mark.slow
async def test_many_people_acting_on_the_same_incidents_at_once(
    settings: Settings, tmp_path: Path
) -> None:
    report = await run_stress(
        settings, StressConfig(rounds=300, max_load_s=60, log_dir=tmp_path / "stress")
    )
    print(report.summary())
    assert not report.failed, report.summary()


# --- the harness's checks can fail (fast, no processes) ---------------------------------


def _snapshot(events: list[tuple[int, str, str, dict[str, Any]]]) -> Snapshot:
    """Events as (id, incident, name, data), for one elder's incidents."""
    incidents = {
        inc: {
            "id": inc,
            "elder_id": "elder",
            "state": "cancelled",
            "assigned": None,
            "escalation_level": 0,
            "closed_at": "now",
            "outcome": None,
            "trigger": "button",
        }
        for _, inc, _, _ in events
    }
    rows = [{"id": i, "incident_id": inc, "name": n, "data": d} for i, inc, n, d in events]
    return Snapshot("org", incidents, {}, rows, events[-1][0] if events else None, {})


def _chain(role: str, connections: list[Connection]) -> LiveChain:
    chain = LiveChain("c", role, "elder", "token", [], [0], rng=random.Random(0))
    chain.connections = connections
    for conn in connections:
        for event_id in conn.ids:
            chain.frames[event_id] = {"event": "incident.joined", "id": event_id}
    return chain


def _conn(
    ids: list[int], *, after: int | None = None, code: int | None = None, by_client: bool = False
) -> Connection:
    conn = Connection(0, after, start=after or 0, ids=ids, close_code=code, welcomed=True)
    conn.closed_by_client = by_client
    return conn


def _problems(role: str, *connections: Connection) -> list[str]:
    snap = _snapshot([(n, "i1", "incident.joined", {}) for n in range(1, 7)])
    return check_chain(_chain(role, list(connections)), snap, revoked_expected=False, zero=0)


def test_the_socket_check_sees_a_gap_a_repeat_and_a_close_without_1011() -> None:
    assert _problems("officer", _conn([1, 2, 3, 4, 5, 6], by_client=True)) == []
    assert (
        _problems("officer", _conn([1, 2, 3], code=1011), _conn([4, 5, 6], after=3, by_client=True))
        == []
    )
    gap = _problems("officer", _conn([1, 2, 4, 5, 6], by_client=True))
    assert any("missed 1 event" in p for p in gap)
    twice = _problems("elder", _conn([1, 2, 3], code=1011), _conn([3, 4, 5, 6], after=2))
    assert any("twice" in p for p in twice)
    closed = _problems("officer", _conn([1, 2], code=1000))
    assert any("closed by the server with 1000" in p for p in closed)
    assert any("never got 4 event" in p for p in closed)


def test_the_database_checks_see_holes_a_second_open_incident_and_a_key_reused() -> None:
    snap = _snapshot(
        [
            (1, "i1", "incident.opened", {}),
            (2, "i2", "incident.opened", {}),
            (4, "i1", "incident.cancelled", {}),
        ]
    )
    assert check_event_ids(snap)
    assert check_one_active_per_elder(snap)
    answers = [
        SosAnswer("elder", "key", "sos", 201, "i1", False),
        SosAnswer("elder", "key", "sos_retry", 200, "i2", True),
    ]
    assert any("gave 2 incidents" in p for p in check_sos(answers, snap))
