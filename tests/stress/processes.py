"""The real processes of a stress run: two `phikat serve`, one `phikat worker` and a fake
Google (FCM, its token endpoint, an SMS webhook), each writing its output to a file."""

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from core.settings import Settings
from tests.fake_fcm import service_account_file
from tests.live_support import ServerProcess, free_port

ROOT = Path(__file__).resolve().parents[2]

# What may not appear in any process's output. A deadlock that the unit of work or the
# request retry absorbed is logged as "transaction retried after deadlock_detected":
# counted as a retry taken, not as a failure.
OFFENDING = re.compile(r"Traceback|\b(ERROR|CRITICAL)\b|(?i:deadlock|unhandled)")
ABSORBED = "transaction retried"


@dataclass
class Cluster:
    """The running processes and where their output goes."""

    servers: list[ServerProcess]
    worker: subprocess.Popen[bytes]
    google: subprocess.Popen[bytes]
    google_url: str
    logs: dict[str, Path] = field(default_factory=dict)

    @property
    def http(self) -> list[str]:
        return [s.http for s in self.servers]

    @property
    def ws(self) -> list[str]:
        return [s.ws for s in self.servers]

    def stop_worker(self) -> None:
        _stop(self.worker)

    def stop_all(self) -> None:
        """SIGTERM and wait: a server that does not stop in 15 s is killed (-9)."""
        self.stop_worker()
        for server in self.servers:
            server.stop()

    def exit_codes(self) -> dict[str, int | None]:
        codes = {f"server-{n}": s.proc.returncode for n, s in enumerate(self.servers)}
        return {**codes, "worker": self.worker.returncode}


def _environment(settings: Settings, google_url: str, account: Path, pool: int) -> dict[str, str]:
    """Settings shared by the servers and the worker: rate limits far above the load
    (a 429 still counts as a legitimate answer), small pools (the database is shared),
    pushes to the fake FCM and SMS to its webhook."""
    return {
        "PHIKAT_DATABASE_URL": settings.database_url,
        "PHIKAT_SECRET_KEY": settings.secret_key.get_secret_value(),
        "PHIKAT_LOG_LEVEL": "WARNING",
        "PHIKAT_SOS_PRESSES_PER_MIN": "10000",
        "PHIKAT_LOCATIONS_PER_MIN": "10000",
        "PHIKAT_OFFER_ACTIONS_PER_MIN": "10000",
        "PHIKAT_DB_POOL_SIZE": str(pool),
        "PHIKAT_DB_MAX_OVERFLOW": str(pool),
        "PHIKAT_FCM_CREDENTIALS": str(account),
        "PHIKAT_FCM_ENDPOINT": google_url,
        "PHIKAT_SMS_WEBHOOK_URL": f"{google_url}/sms",
        "PHIKAT_WORKER_POLL_S": "0.2",
        "PHIKAT_SENDER_POLL_S": "0.2",
    }


def _popen(args: list[str], env: dict[str, str], output: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, *args],
        env={**os.environ, **env},
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
    )


def _wait_http(url: str, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def running_cluster(
    settings: Settings,
    log_dir: Path,
    *,
    small_queue_batches: int = 2,
    pool: int = 10,
    google_module: str = "tests.fake_fcm",
    extra_env: dict[str, str] | None = None,
) -> Iterator[Cluster]:
    """Start everything; stop everything (SIGTERM, then SIGKILL) when the block ends.

    Server 0 has the default live queue; server 1 a queue of ``small_queue_batches``
    batches, so that slow sockets there overflow and must be closed with 1011.
    ``google_module`` runs the fake Google (the fault suite's has a control endpoint);
    ``extra_env`` adds settings for every server and the worker."""
    log_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        files = {
            name: stack.enter_context((log_dir / f"{name}.log").open("wb"))
            for name in ("google", "server-0", "server-1", "worker")
        }
        port = free_port()
        google_url = f"http://127.0.0.1:{port}"
        google = _popen(["-m", google_module, "--port", str(port)], {}, files["google"])
        stack.callback(_stop, google)
        _wait_http(f"{google_url}/_recorded", google, "the fake Google")
        account = service_account_file(log_dir / "service-account.json", f"{google_url}/token")
        env = _environment(settings, google_url, account, pool) | (extra_env or {})
        servers = []
        for n, queue in enumerate((None, small_queue_batches)):
            extra = {"PHIKAT_LIVE_QUEUE_BATCHES": str(queue)} if queue else {}
            server = ServerProcess(settings, files[f"server-{n}"], **env, **extra)
            stack.callback(server.stop)
            servers.append(server)
        worker = _popen(["-m", "api", "worker"], env, files["worker"])
        stack.callback(_stop, worker)
        yield Cluster(
            servers=servers,
            worker=worker,
            google=google,
            google_url=google_url,
            logs={name: log_dir / f"{name}.log" for name in files},
        )


@dataclass
class LogFindings:
    retries: int  # lines saying a transaction was retried (deadlock, serialization)
    retries_by_process: dict[str, int]
    offending: list[str]  # "process: line", a traceback by its last line
    deadlocks: int  # offending lines that name a deadlock


def scan_logs(logs: dict[str, Path]) -> LogFindings:
    retries: dict[str, int] = {}
    offending: list[str] = []
    for name, path in logs.items():
        lines = path.read_text(errors="replace").splitlines()
        retries[name] = sum(ABSORBED in line for line in lines)
        skip_to = 0
        for n, line in enumerate(lines):
            if n < skip_to or ABSORBED in line or not OFFENDING.search(line):
                continue
            entry = f"{name}: {line.strip()}"
            if "Traceback" in line:  # shown by its last line, the exception (the file has all)
                end = next((m for m in range(n + 1, len(lines)) if lines[m][:1] not in " "), n)
                entry += f" ... {lines[end].strip()}"
                skip_to = end + 1
            offending.append(entry[:600])
    deadlocks = sum("deadlock" in line.lower() for line in offending)
    return LogFindings(sum(retries.values()), retries, offending, deadlocks)
