"""The national-scale benchmark (issue 17) on tiny data: `scripts/bench all --smoke`.

Every part runs once, as its own process against databases of its own on the test
server, so a benchmark that no longer runs is found here, not on the day someone
needs its figures. The figures themselves are not judged (two shared cores), except
the one a smoke run can check: the statements per list request stay constant.
"""

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from core.settings import Settings

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


def test_every_benchmark_runs_on_tiny_data(settings: Settings) -> None:
    prefix = f"t{uuid.uuid4().hex[:6]}_"
    env = {**os.environ, "PHIKAT_DATABASE_URL": settings.database_url}
    env["PHIKAT_BENCH_PREFIX"] = prefix
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.all", "--smoke"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-4000:]
        summary = re.findall(r"^\| (\w+[^|]*) \| (\d+) s \| (\d+) \|$", done.stdout, re.M)
        assert len(summary) == 8 and all(code == "0" for *_, code in summary), summary
        for figure in (
            "bare PostGIS",  # zone match beside its floors
            "floor (sum)",  # SOS to offer beside its floor
            "errors (never 2xx)",  # the surge
            "bare websockets.broadcast",  # fan-out beside a bare broadcast
            "updates/s",  # location ingest
            "pushes/s",  # the outbox
        ):
            assert figure in done.stdout, f"{figure!r} missing:\n{done.stdout[-3000:]}"
        counts = re.findall(r"^\| (?:2|10) \| (\d+) \| (\d+) \| (\d+) \|$", done.stdout, re.M)
        assert len(counts) == 2 and counts[0] == counts[1], counts
    finally:
        _drop_databases(settings.database_url, prefix)
        for tokens in (ROOT / ".data").glob(f"{prefix}*-tokens.csv"):
            tokens.unlink()


def _drop_databases(url: str, prefix: str) -> None:
    admin = make_url(url).set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        names = conn.execute(
            "select datname from pg_database where datname like %s", [prefix + "%"]
        ).fetchall()
        for (name,) in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
