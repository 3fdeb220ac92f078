"""What a newcomer sees in the console of `phikat demo` (what scripts/demo runs): the demo
runs as a real process against its own PostGIS database, with the simulator at 60x, until
a few simulated incidents are resolved, then gets Ctrl+C.

The output must be readable: the startup, then one summary (the map's address, the
officer's login) under 20 lines, then one line per incident step, never one per HTTP
request (there were ~1,800 of those in five minutes), and a quiet stop."""

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import _recreate_database
from tests.live_support import free_port
from tests.test_cli import run_phikat

pytestmark = pytest.mark.slow
RESOLVED = 3  # incidents to see through before stopping
INCIDENT = re.compile(r"\[incident ([0-9a-f-]{36})\]$")
RULE = "────"
# The step lines of the simulator (api/simulator.py), by kind.
STEPS = {
    "sos": re.compile(r"phikat\.simulator: SOS \("),
    "received": re.compile(r"phikat\.simulator: offer received by \w+"),
    "answer": re.compile(
        r"phikat\.simulator: (accepted by \w+|\w+ declines|\w+ leaves the offer unanswered"
        r"|\w+ tried to accept: too late)"
    ),
    "arrived": re.compile(r"phikat\.simulator: \w+ arrived"),
    "resolved": re.compile(r"phikat\.simulator: resolved by \w+"),
}


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _wait_for_resolved(proc: subprocess.Popen[str], log: Path, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.read_text().count("phikat.simulator: resolved by") >= count:
            return
        assert proc.poll() is None, log.read_text()
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} incidents resolved:\n{log.read_text()}")


def test_the_demo_console_shows_the_login_once_then_one_line_per_incident_step(
    database_url: str, tmp_path: Path
) -> None:
    demo_db = database_url.rsplit("/", 1)[0] + f"/phikat_demo_{uuid.uuid4().hex[:6]}"
    _recreate_database(demo_db)
    try:
        assert run_phikat("db", "upgrade", database_url=demo_db).returncode == 0
        env = {
            **os.environ,
            "PHIKAT_DATABASE_URL": demo_db,
            "PHIKAT_SECRET_KEY": "demo-console-test-" + "k" * 40,
            "PHIKAT_LOG_LEVEL": "INFO",
            "PHIKAT_LOG_FORMAT": "text",
            "COLUMNS": "100",
        }
        port = free_port()
        command = [sys.executable, "-m", "api", "demo", "--port", str(port), "--speed", "60"]
        log_path = tmp_path / "demo.log"  # a file: an undrained pipe would stall the server
        with log_path.open("w") as log_file:
            proc = subprocess.Popen(
                [*command, "--sos-every", "20"],
                env=env,
                text=True,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            _wait_for_resolved(proc, log_path, RESOLVED, timeout=90)
        finally:
            proc.send_signal(signal.SIGINT)  # Ctrl+C
            proc.wait(timeout=30)
        lines = log_path.read_text().splitlines()
        with psycopg.connect(_conninfo(demo_db)) as conn:
            offers = Counter(
                {
                    str(incident): n
                    for incident, n in conn.execute(
                        "SELECT incident_id, count(*) FROM offer GROUP BY incident_id"
                    )
                }
            )
            failed = conn.execute(
                "SELECT count(*) FROM incident_event WHERE name = 'message.failed'"
            ).fetchone()
    finally:
        _drop(demo_db)

    output = "\n".join(lines)
    assert proc.returncode in (0, -signal.SIGINT, 128 + signal.SIGINT), output
    assert "Traceback" not in output, output
    # Not one line per HTTP request: neither httpx's nor uvicorn's access log.
    assert "HTTP Request:" not in output and "uvicorn.access" not in output, output
    assert not [line for line in lines if re.search(r'"(GET|POST|PUT) /v1/', line)], output

    # One summary, printed after the startup noise, on one screen.
    rules = [i for i, line in enumerate(lines) if line.startswith(RULE)]
    assert len(rules) == 2, output
    start, end = rules
    summary = lines[start : end + 1]
    assert len(summary) <= 20, "\n".join(summary)
    text = "\n".join(summary)
    assert f"http://127.0.0.1:{port}/map" in text and "officer@thakhantho.demo" in text, text
    assert re.search(r"Password:\s+\S+", text), text
    startup = lines[:start]
    assert any("Uvicorn running on" in line for line in startup), output
    assert any("registered for push" in line for line in startup), output
    assert len(startup) <= 25, "\n".join(startup)

    # After it: one line per step of an incident, each naming its incident, and no more
    # steps than happened (an offer is received once and answered at most once).
    after = lines[end + 1 :]
    per_incident: dict[str, Counter[str]] = defaultdict(Counter)
    others = []
    for line in after:
        incident = INCIDENT.search(line)
        kinds = [kind for kind, pattern in STEPS.items() if pattern.search(line)]
        if incident is None:
            others.append(line)
            continue
        assert len(kinds) == 1, f"not a step line: {line}"
        per_incident[incident.group(1)][kinds[0]] += 1
    assert sum(c["resolved"] for c in per_incident.values()) >= RESOLVED, output
    for incident_id, steps in per_incident.items():
        where = (incident_id, steps, offers[incident_id])
        assert steps["sos"] >= 1, where
        assert steps["received"] <= offers[incident_id], where
        assert steps["answer"] <= steps["received"], where
        assert steps["arrived"] <= 1 and steps["resolved"] <= steps["arrived"], where
    # Lines about no incident after the summary: uvicorn's and the workers' stop messages.
    assert len(others) <= 8, "\n".join(others)
    steps_total = sum(sum(c.values()) for c in per_incident.values())
    bound = sum(c["sos"] + 2 * offers[i] + 2 for i, c in per_incident.items())
    assert steps_total <= bound

    # The simulated phones registered for push: no offer (nor any message) failed.
    assert failed == (0,), output


def _drop(url: str) -> None:
    parsed = make_url(url)
    maintenance = parsed.set(drivername="postgresql", database="postgres")
    with psycopg.connect(
        maintenance.render_as_string(hide_password=False), autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
