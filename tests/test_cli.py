"""The phikat command, run as a real process against the test database."""

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from geo.models import CareZone
from tests.conftest import _recreate_database
from tests.factories import World, feature, square
from tests.helpers import db_fingerprint
from tests.live_support import free_port

PHIKAT = [sys.executable, "-m", "api"]


def run_phikat(
    *args: str, database_url: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PHIKAT_DATABASE_URL": database_url, "COLUMNS": "200"}
    return subprocess.run(
        [*PHIKAT, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def write_zones(path: Path, count: int, bad: dict[int, dict[str, Any]]) -> None:
    """A FeatureCollection of ``count`` small squares; ``bad`` replaces some features."""
    with path.open("w") as f:
        f.write('{"type": "FeatureCollection", "features": [\n')
        for i in range(count):
            x, y = 100 + (i % 100) * 0.01, 15 + (i // 100) * 0.01
            feat = bad.get(i) or feature(f"Zone {i}", square(x, y, x + 0.009, y + 0.009))
            f.write(("," if i else "") + json.dumps(feat, ensure_ascii=False) + "\n")
        f.write("]}\n")


async def count_zones(sessionmaker: async_sessionmaker[AsyncSession], world: World) -> int:
    async with sessionmaker() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(CareZone)
                .where(CareZone.organization_id == world.org_id)
            )
            or 0
        )


BOWTIE = [[[101.0, 17.0], [101.01, 17.01], [101.01, 17.0], [101.0, 17.01], [101.0, 17.0]]]


async def test_zones_import_reports_bad_features_and_imports_nothing_by_default(
    tmp_path: Path, world: World, database_url: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    path = tmp_path / "zones.geojson"
    write_zones(
        path,
        3000,
        {
            7: feature("บ้านไขว้", BOWTIE),
            2500: {
                "type": "Feature",
                "properties": {"name": "Road"},
                "geometry": {"type": "LineString", "coordinates": [[100, 15], [101, 16]]},
            },
        },
    )
    before = await db_fingerprint(sessionmaker)
    result = run_phikat(
        "zones", "import", str(path), "--org", world.org_code, database_url=database_url
    )
    assert result.returncode == 1, result.stderr
    assert "3000 features read, 2998 valid, 2 refused" in result.stdout
    assert re.search(
        r"7\s+│\s+บ้านไขว้\s+│\s+geometry\s+│\s+invalid polygon: Self-intersection", result.stderr
    ), result.stderr
    assert re.search(r"2500\s+│\s+Road", result.stderr)
    assert "nothing was imported" in result.stderr
    assert await db_fingerprint(sessionmaker) == before

    skipped = run_phikat(
        "zones",
        "import",
        str(path),
        "--org",
        world.org_code,
        "--skip-invalid",
        database_url=database_url,
    )
    assert skipped.returncode == 0, skipped.stderr
    assert "2998 imported" in skipped.stdout
    assert await count_zones(sessionmaker, world) == 2 + 2998


async def test_zones_import_repairs_when_asked_and_dry_run_stores_nothing(
    tmp_path: Path, world: World, database_url: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    path = tmp_path / "zones.geojson"
    write_zones(path, 10, {3: feature("บ้านไขว้", BOWTIE)})
    dry = run_phikat(
        "zones",
        "import",
        str(path),
        "--org",
        world.org_code,
        "--repair",
        "--dry-run",
        database_url=database_url,
    )
    assert dry.returncode == 0, dry.stderr
    assert "10 valid, 0 refused, 1 repaired, 0 imported" in dry.stdout
    assert await count_zones(sessionmaker, world) == 2
    real = run_phikat(
        "zones", "import", str(path), "--org", world.org_code, "--repair", database_url=database_url
    )
    assert "10 imported" in real.stdout
    assert await count_zones(sessionmaker, world) == 12


async def test_zones_import_refuses_a_foreign_crs_and_an_unknown_org(
    tmp_path: Path, world: World, database_url: str
) -> None:
    path = tmp_path / "utm.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "crs": {"type": "name", "properties": {"name": "EPSG:32648"}},
                "features": [feature("UTM", square(300000, 1860000, 301000, 1861000))],
            }
        )
    )
    crs = run_phikat(
        "zones", "import", str(path), "--org", world.org_code, database_url=database_url
    )
    assert crs.returncode == 2 and "WGS84" in crs.stderr
    good = tmp_path / "good.geojson"
    write_zones(good, 1, {})
    unknown = run_phikat(
        "zones", "import", str(good), "--org", "no-such-org", database_url=database_url
    )
    assert unknown.returncode != 0 and "no-such-org" in unknown.stderr + unknown.stdout


@pytest.mark.slow
def test_demo_seeds_serves_docs_and_simulated_incidents_get_resolved(
    database_url: str, tmp_path: Path
) -> None:
    demo_db = database_url.rsplit("/", 1)[0] + f"/phikat_demo_{uuid.uuid4().hex[:6]}"
    _recreate_database(demo_db)
    assert run_phikat("db", "upgrade", database_url=demo_db).returncode == 0
    port = free_port()
    env = {
        **os.environ,
        "PHIKAT_DATABASE_URL": demo_db,
        "PHIKAT_ALLOW_INSECURE_SECRET": "true",
        "COLUMNS": "400",
    }
    # 30x simulated time: responders think for 0.1-0.5 s and ride at 900 km/h.
    command = [*PHIKAT, "demo", "--port", str(port), "--speed", "30", "--sos-every", "30"]
    # Output goes to a file: an undrained pipe would fill up and stall the server.
    log_path = tmp_path / "demo.log"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen(
            command,
            env=env,
            text=True,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        output = _read_until(proc, log_path, "simulator running", timeout=60)
        password = re.search(r"Password:\s+(\S+)", output)
        assert password, output
        assert "officer@thakhantho.demo" in output
        assert httpx.get(f"{base}/docs", timeout=5).status_code == 200
        assert httpx.get(f"{base}/readyz", timeout=5).json()["status"] == "ok"
        token = httpx.post(
            f"{base}/v1/auth/token",
            timeout=10,
            data={"username": "officer@thakhantho.demo", "password": password.group(1)},
        ).json()
        officer = {"Authorization": f"Bearer {token['access_token']}"}
        org_id = httpx.get(f"{base}/v1/me", headers=officer, timeout=5).json()["organization_id"]
        assert httpx.get(f"{base}/v1/orgs/x", headers=officer, timeout=5).status_code == 422

        device = re.search(r"Bearer (phk_dev_\S+?)'", output)
        assert device, output
        sos = httpx.post(
            f"{base}/v1/sos",
            json={"trigger": "button"},
            timeout=10,
            headers={
                "Authorization": f"Bearer {device.group(1)}",
                "Idempotency-Key": str(uuid.uuid4()),
            },
        )
        assert sos.status_code in (200, 201), sos.text  # 200: the simulator pressed first
        assert sos.json()["zone"]["name"].startswith("บ้าน")

        # Nobody touches anything: simulated SOS go from dispatching to resolved.
        deadline = time.monotonic() + 90
        resolved: list[object] = []
        while not resolved and time.monotonic() < deadline:
            time.sleep(1)
            resolved = httpx.get(
                f"{base}/v1/orgs/{org_id}/incidents",
                headers=officer,
                params={"state": "resolved"},
                timeout=10,
            ).json()
        assert resolved, "no simulated incident was resolved within 90 s"
        timeline = httpx.get(
            f"{base}/v1/incidents/{resolved[0]['id']}",  # type: ignore[index]
            headers=officer,
            timeout=10,
        ).json()
        names = [e["event"] for e in timeline["events"]]
        for step in (
            "incident.opened",
            "offer.sent",
            "incident.accepted",
            "incident.on_scene",
            "incident.resolved",
        ):
            assert step in names, names
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _read_until(proc: subprocess.Popen[str], path: Path, marker: str, *, timeout: float) -> str:
    """The process's output so far, once it contains ``marker``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        output = path.read_text()
        if marker in output:
            return output
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(path.read_text())
