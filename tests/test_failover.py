"""Issue 16's database failover drill: two `phikat serve` and a worker under a light SOS
load on a primary with a synchronous streaming standby (both throw-away, on loopback),
the service given both hosts with target_session_attrs=read-write. The primary is lost
(stop -m immediate) and the standby promoted: the service follows within seconds, SOS
sent meanwhile are answered 503 with the number to call and stored on the phone's retry,
nothing acknowledged is lost, and the live sockets resume without a gap. The harness is
tests/faults/ (failover.py); the figures: scripts/faults --failover."""

from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from core.db import libpq_conninfo
from tests.faults import FaultConfig, run_faults


@pytest.mark.parametrize(
    "query",
    [
        "host=10.0.0.2:5433&host=10.0.0.1:5432&target_session_attrs=read-write",
        "host=10.0.0.2,10.0.0.1&port=5433,5432&target_session_attrs=read-write",
    ],
)
def test_a_multi_host_url_means_to_libpq_what_it_means_to_the_engine(query: str) -> None:
    """The database watch and the live channel's LISTEN connection connect with psycopg
    alone: both URL forms SQLAlchemy accepts must reach libpq as its host and port lists
    (the first form used to reach it as one host named '10.0.0.1:5432')."""
    params = conninfo_to_dict(libpq_conninfo(f"postgresql+psycopg://u:p%40ss@/phikat?{query}"))
    assert params["host"] == "10.0.0.2,10.0.0.1"
    assert params["port"] == "5433,5432"
    assert params["target_session_attrs"] == "read-write"
    assert (params["user"], params["password"], params["dbname"]) == ("u", "p@ss", "phikat")
    assert params["connect_timeout"] == "2"


@pytest.mark.slow
async def test_the_service_follows_a_failover_and_loses_no_acknowledged_sos(
    tmp_path: Path,
) -> None:
    report = await run_faults(FaultConfig(failover=True, log_dir=tmp_path / "failover"))
    print(report.summary())
    assert not report.failed, report.summary()
    figures = report.failover
    assert figures["SOS acknowledged but not in the new primary"] == 0
    assert figures["SOS answered 503"] > 0
    assert figures["promote to first SOS stored s"] is not None
    assert figures["promote to first SOS stored s"] < 10
