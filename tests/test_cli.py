"""The phikat command, run as a real process against the test database."""

import json
import os
import re
import socket
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
from tests.factories import World, feature, square
from tests.helpers import db_fingerprint

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_demo_seeds_tha_khantho_and_serves_docs(database_url: str) -> None:
    demo_db = database_url.rsplit("/", 1)[0] + f"/phikat_demo_{uuid.uuid4().hex[:6]}"
    from tests.conftest import _recreate_database

    _recreate_database(demo_db)
    assert run_phikat("db", "upgrade", database_url=demo_db).returncode == 0
    port = _free_port()
    env = {
        **os.environ,
        "PHIKAT_DATABASE_URL": demo_db,
        "PHIKAT_ALLOW_INSECURE_SECRET": "true",
        "COLUMNS": "400",
    }
    proc = subprocess.Popen(
        [*PHIKAT, "demo", "--port", str(port)],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        lines: list[str] = []
        while time.monotonic() < deadline:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            lines.append(line)
            if "Uvicorn running" in line or "Application startup complete" in line:
                break
        output = "".join(lines)
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
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        org_id = httpx.get(f"{base}/v1/orgs/{'x'}", headers=headers, timeout=5)
        assert org_id.status_code == 422  # not a UUID: a problem, not a crash
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
        assert sos.status_code == 201, sos.text
        assert sos.json()["zone"]["name"].startswith("บ้าน")
    finally:
        proc.terminate()
        proc.wait(timeout=20)
