"""The database failover drill (issue 16): the fault run's processes and load on a primary
with a synchronous streaming standby, both on loopback; the primary is lost (``pg_ctl
stop -m immediate``) and the standby promoted (``pg_ctl promote``). The service is given
both hosts with ``target_session_attrs=read-write`` and must follow on its own.

``run_faults(FaultConfig(failover=True))`` runs it (tests/test_failover.py);
``python -m tests.faults --failover`` prints the figures (docs/reliability.md)."""

from typing import Any

from tests.faults.breaker import Breaker
from tests.faults.phones import Attempt, Tries
from tests.faults.postgres import USER, ThrowawayPostgres
from tests.stress.checks import Snapshot

STORED = (200, 201)


def service_url(primary: ThrowawayPostgres, standby: ThrowawayPostgres, only_primary: bool) -> str:
    """Both hosts, the standby first: before the failover every new connection skips it
    (read-only), after it the lost primary. ``only_primary``: the old primary alone,
    which the drill must fail with."""
    hosts = [primary] if only_primary else [standby, primary]
    query = "&".join(f"host=127.0.0.1:{pg.port}" for pg in hosts)
    return f"postgresql+psycopg://{USER}@/phikat?{query}&target_session_attrs=read-write"


def figures(
    breaker: Breaker,
    attempts: list[Attempt],
    tries: dict[str, Tries],
    latencies: dict[str, list[float]],
    snap: Snapshot,
    follow_within_s: float,
) -> tuple[dict[str, Any], list[str]]:
    """The drill's figures (seconds on the run's clock) and its own problems: an SOS
    stored within ``follow_within_s`` of the promotion, and every acknowledged SOS in
    the new primary (exactly once is the stress checks' part)."""
    lost, promoted = breaker.faults[-1].started, breaker.promoted_at
    sos = [a for a in attempts if a.kind.startswith("sos")]
    after = [a.at for a in sos if a.at > promoted and a.status in STORED]
    first = min(after) - promoted if after else None
    stored = {key for (_, key) in snap.sos_requests}
    acknowledged = {key for key, t in tries.items() if t.final in STORED}
    sos_latencies = [s for kind, seen in latencies.items() if kind.startswith("sos") for s in seen]
    out = {
        "drill start to pg_ctl promote s": round(promoted - lost, 2),
        "promote to first SOS stored s": round(first, 2) if first is not None else None,
        "drill start to first SOS stored s": (
            round(first + promoted - lost, 2) if first is not None else None
        ),
        "SOS answered 503": sum(a.status == 503 for a in sos),
        "SOS keys refused at least once": sum(
            any(a.status == 503 for a in t.attempts) for t in tries.values()
        ),
        "SOS acknowledged (2xx)": len(acknowledged),
        "SOS acknowledged but not in the new primary": len(acknowledged - stored),
        "max SOS latency s (sent to final answer, retries included)": round(
            max(sos_latencies, default=0.0), 2
        ),
    }
    problems = [f"acknowledged SOS {k} is not in the new primary" for k in acknowledged - stored]
    if first is None:
        problems.append("no SOS was stored after the standby was promoted")
    elif first > follow_within_s:
        problems.append(f"the first SOS after the promotion was stored after {first:.1f}s")
    if not out["SOS answered 503"]:
        problems.append("no SOS met the failover (no 503): the drill proved nothing")
    return out, problems
