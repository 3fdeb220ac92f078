"""The systemd units in deploy/systemd pass `systemd-analyze verify` and keep a low
exposure score in `systemd-analyze security`, and deploy/phikat.env names only real
settings, with values they accept."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
INSTALLED_AT = "/opt/phikat/venv/bin/phikat"
# `systemd-analyze security`: exposure from 0 (locked down) to 10 (unprotected), times 10.
MAX_EXPOSURE = 20
# The units as enabled in production (templates instantiated).
UNITS = (
    "phikat.target",
    "phikat-runtime.service",
    "phikat-serve@8001.service",
    "phikat-worker@1.service",
    "phikat-db-upgrade.service",
)
SERVICES = ("phikat-serve@8001.service", "phikat-worker@1.service", "phikat-db-upgrade.service")

analyze = shutil.which("systemd-analyze")
needs_analyze = pytest.mark.skipif(analyze is None, reason="systemd-analyze is not installed")


@pytest.fixture
def units(tmp_path: Path) -> Path:
    """The units as committed, but for the program's path: verify checks that ExecStart
    exists, so it points at this checkout's `phikat` instead of /opt/phikat's."""
    phikat = Path(sys.executable).parent / "phikat"
    assert phikat.exists(), phikat
    for unit in (DEPLOY / "systemd").iterdir():
        text = unit.read_text()
        if unit.suffix == ".service" and unit.name != "phikat-runtime.service":
            assert text.count(INSTALLED_AT) == 1, unit.name
        (tmp_path / unit.name).write_text(text.replace(INSTALLED_AT, str(phikat)))
    return tmp_path


def run_analyze(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert analyze is not None
    return subprocess.run(
        [analyze, *args], cwd=directory, capture_output=True, text=True, timeout=60, check=False
    )


@needs_analyze
def test_the_units_verify_without_a_warning(units: Path) -> None:
    result = run_analyze(units, "verify", "--man=no", "--generators=no", *(f"./{u}" for u in UNITS))
    # Unknown keys and bad values are only warnings (exit 0): any output is a failure.
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr
    assert not result.stdout.strip(), result.stdout


@needs_analyze
@pytest.mark.parametrize("unit", SERVICES)
def test_the_services_are_locked_down(units: Path, unit: str) -> None:
    result = run_analyze(
        units, "security", "--offline=yes", f"--threshold={MAX_EXPOSURE}", f"./{unit}"
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, f"{summary}\n{result.stderr}"


def test_the_environment_file_names_real_settings_with_valid_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fields = set(Settings.model_fields)
    assigned = {}
    for line in (DEPLOY / "phikat.env").read_text().splitlines():
        # Commented-out examples too: a typo there would be copied by the reader.
        match = re.fullmatch(r"#?([A-Z_]+)=(.*)", line.strip())
        if match:
            name, value = match.groups()
            assigned[name] = value.strip("'")
    assert "PHIKAT_DATABASE_URL" in assigned
    for name, value in assigned.items():
        if name == "FORWARDED_ALLOW_IPS":  # uvicorn's own
            continue
        assert name.startswith("PHIKAT_") and name[7:].lower() in fields, name
        monkeypatch.setenv(name, value)
    settings = Settings()  # validates every value
    assert settings.log_format == "json" and settings.run_worker
