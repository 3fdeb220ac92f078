"""The import direction of DESIGN.md (api -> dispatch -> geo | notifications -> core)
and the layers inside dispatch/, declared to import-linter in pyproject.toml."""

import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import dispatch

ROOT = Path(__file__).resolve().parent.parent


def test_import_layers_hold() -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is part of the dev dependencies"
    result = subprocess.run(
        [lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken" in result.stdout


DISPATCH_MODULES = sorted(
    m.name for m in pkgutil.walk_packages(dispatch.__path__, prefix="dispatch.")
)


def test_dispatch_has_no_cycles_hidden_by_import_order() -> None:
    """Each module of dispatch/ imports on its own, first, in a fresh interpreter. A
    cycle that works only when some other module happens to load first fails here."""
    script = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        # prometheus_client too: its registry would see core.metrics register twice.
        "    for loaded in [m for m in sys.modules if m.split('.')[0] in "
        "('api', 'dispatch', 'geo', 'notifications', 'core', 'prometheus_client')]:\n"
        "        del sys.modules[loaded]\n"
        "    importlib.import_module(name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *DISPATCH_MODULES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("module", ["dispatch.locations", "dispatch.responders"])
def test_the_modules_of_the_old_cycle_import_first(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_no_dispatch_module_is_large() -> None:
    """Issue 13: small modules; the largest were the ones every change touched."""
    sizes = {
        path.relative_to(ROOT).as_posix(): len(path.read_text().splitlines())
        for path in (ROOT / "dispatch").rglob("*.py")
    }
    assert {p: n for p, n in sizes.items() if n > 350} == {}
