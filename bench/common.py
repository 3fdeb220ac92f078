"""Shared helpers for the benchmarks: a scratch database and a server on loopback."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

from core.migrations import upgrade_to_head

ROOT = Path(__file__).resolve().parent.parent


def bench_database(name: str) -> str:
    """The name of a benchmark's database: ``PHIKAT_BENCH_PREFIX`` before it, so that a
    smoke run (``scripts/bench all --smoke``, the test suite) never drops the data set
    of a full one on the same server."""
    return os.environ.get("PHIKAT_BENCH_PREFIX", "") + name


def database_url(name: str) -> str:
    """PHIKAT_DATABASE_URL with the benchmark's database (``bench_database``) in it."""
    base = os.environ.get("PHIKAT_DATABASE_URL")
    if not base:
        sys.exit("PHIKAT_DATABASE_URL is not set: run benchmarks with scripts/bench")
    return make_url(base).set(database=bench_database(name)).render_as_string(
        hide_password=False
    )


def scratch_database(name: str) -> str:
    """A freshly created and migrated database next to PHIKAT_DATABASE_URL's."""
    url = make_url(database_url(name))
    name = url.database or name
    admin = url.set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    rendered = url.render_as_string(hide_password=False)
    upgrade_to_head(rendered)
    return rendered


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _phikat(database_url: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    environ = {
        **os.environ,
        "PHIKAT_DATABASE_URL": database_url,
        "PHIKAT_ALLOW_INSECURE_SECRET": "true",
        "PHIKAT_LOG_LEVEL": "WARNING",
        **env,
    }
    return subprocess.Popen(
        [sys.executable, "-m", "api", *args],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        cwd=ROOT,
    )


class Server:
    """``phikat serve`` in a child process on a loopback port."""

    def __init__(self, database_url: str, **env: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/v1/live"
        self.proc = _phikat(database_url, ["serve", "--port", str(self.port)], env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base_url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("the server did not become ready")

    def stop(self) -> None:
        _stop(self.proc)


class Worker:
    """``phikat worker`` (deadlines, the outbox sender) in a child process."""

    def __init__(self, database_url: str, **env: str) -> None:
        self.proc = _phikat(database_url, ["worker"], env)

    def stop(self) -> None:
        _stop(self.proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL if it has not finished within 20 s (still busy with a backlog)."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def describe(label: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (
        f"{label:<34} n={len(ms):<5} p50={percentile(ms, 50):7.2f} ms  "
        f"p90={percentile(ms, 90):7.2f} ms  p99={percentile(ms, 99):7.2f} ms  "
        f"max={max(ms):7.2f} ms"
    )


async def start_profile(path: str | None, pid: int) -> asyncio.subprocess.Process | None:
    """py-spy sampling process ``pid`` into ``path`` (raw: collapsed stacks, one a line)
    until ``stop_profile``; nothing when ``path`` is None."""
    if path is None:
        return None
    spy = await asyncio.create_subprocess_exec(
        *("py-spy", "record", "--pid", str(pid), "--format", "raw", "--nonblocking"),
        *("--rate", "200", "-o", path),
        stdout=asyncio.subprocess.DEVNULL,
    )
    await asyncio.sleep(1)  # py-spy attaches
    return spy


async def stop_profile(spy: asyncio.subprocess.Process | None) -> None:
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        await spy.wait()
