"""The faults, done to running processes while the load goes on, each with its start and
end on the run's clock (time.monotonic()), so the books can find what it hit."""

import asyncio
import os
import signal
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from unittest.mock import patch

import httpx

from core.settings import Settings
from tests.faults.postgres import ThrowawayPostgres
from tests.live_support import ServerProcess
from tests.stress.processes import Cluster, _environment, _popen


@dataclass
class Fault:
    name: str
    started: float
    ended: float = 0.0
    note: str = ""


@dataclass
class Breaker:
    """Breaks and restores the cluster's parts; restarted processes write on to their
    log files and take their old ports again."""

    cluster: Cluster
    settings: Settings
    postgres: ThrowawayPostgres
    log_dir: Path
    extra_env: dict[str, str]
    small_queue_batches: int
    pool: int
    files: ExitStack
    faults: list[Fault] = field(default_factory=list)
    google: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=10))
    standby: ThrowawayPostgres | None = None  # the failover drill's (tests/faults/failover.py)
    promoted_at: float = 0.0  # when ``pg_ctl promote`` was run

    def _env(self) -> dict[str, str]:
        account = self.log_dir / "service-account.json"
        env = _environment(self.settings, self.cluster.google_url, account, self.pool)
        return env | self.extra_env

    def _log(self, name: str) -> IO[bytes]:
        return self.files.enter_context((self.log_dir / f"{name}.log").open("ab"))

    async def _fault(self, name: str) -> Fault:
        fault = Fault(name, time.monotonic())
        self.faults.append(fault)
        return fault

    async def control(self, **change: object) -> dict[str, object]:
        response = await self.google.post(f"{self.cluster.google_url}/_control", json=change)
        response.raise_for_status()
        result: dict[str, object] = response.json()
        return result

    # --- 1. a server SIGKILLed and started again ------------------------------------

    async def kill_server(self, n: int) -> None:
        fault = await self._fault(f"SIGKILL server {n}")
        old = self.cluster.servers[n]
        old.proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(old.proc.wait)
        extra = {"PHIKAT_LIVE_QUEUE_BATCHES": str(self.small_queue_batches)} if n == 1 else {}
        output, env = self._log(f"server-{n}"), self._env() | extra

        def start() -> ServerProcess:
            # Its old port again: phones and sockets come back to the same address.
            with patch("tests.live_support.free_port", return_value=old.port):
                return ServerProcess(self.settings, output, **env)

        server = await asyncio.to_thread(start)
        self.cluster.servers[n] = server
        fault.ended = time.monotonic()

    # --- 2. the worker SIGKILLed while FCM holds pushes it accepted -----------------

    async def kill_worker_mid_send(self, wait_s: float = 8) -> None:
        fault = await self._fault("SIGKILL worker mid-send")
        await self.control(hang=True)
        deadline = time.monotonic() + wait_s
        held = 0
        while time.monotonic() < deadline:
            held = int(str((await self.control())["held_now"]))
            if held:
                break
            await asyncio.sleep(0.05)
        os.kill(self.cluster.worker.pid, signal.SIGKILL)
        await asyncio.to_thread(self.cluster.worker.wait)
        await self.control(hang=False)
        fault.note = f"{held} push(es) held by FCM when killed"
        self.cluster.worker = _popen(["-m", "api", "worker"], self._env(), self._log("worker"))
        fault.ended = time.monotonic()

    # --- 3. PostgreSQL stopped (fast or immediate) and started again ----------------

    async def restart_postgres(self, mode: str, down_s: float) -> None:
        fault = await self._fault(f"PostgreSQL stop -m {mode}, {down_s:.0f}s down")
        away = await asyncio.to_thread(self.postgres.restart, mode, down_s)
        fault.note = f"away {away:.1f}s"
        fault.ended = time.monotonic()

    # --- 4. FCM answers 500, 503, 429, then hangs -----------------------------------

    async def fcm_outage(self, each_s: float, hang_s: float) -> None:
        for status in (500, 503, 429):
            fault = await self._fault(f"FCM answers {status}")
            await self.control(fcm_status=status)
            await asyncio.sleep(each_s)
            await self.control(fcm_status=200)
            fault.ended = time.monotonic()
        fault = await self._fault(f"FCM hangs {hang_s:.0f}s")
        await self.control(hang=True)
        await asyncio.sleep(hang_s)
        await self.control(hang=False)
        fault.ended = time.monotonic()

    # --- 5. the SMS gateway slow ----------------------------------------------------

    async def slow_sms(self, delay_s: float, for_s: float) -> None:
        fault = await self._fault(f"SMS gateway {delay_s:.0f}s slow")
        await self.control(sms_delay_s=delay_s)
        await asyncio.sleep(for_s)
        await self.control(sms_delay_s=0.0)
        fault.ended = time.monotonic()

    # --- 6. the primary lost, the standby promoted (the failover drill) -------------

    async def failover(self, detect_s: float, *, promote_first: bool = False) -> None:
        """The primary's machine is lost (stop -m immediate); ``detect_s`` later the
        standby is promoted, as a failover manager (Patroni) would once sure of it.
        ``promote_first``: promoted, and the old primary stopped ``detect_s`` later (two
        primaries meanwhile: the old one's commits wait for a standby that has left)."""
        assert self.standby is not None
        order = "standby promoted, then primary" if promote_first else "primary, then standby"
        fault = await self._fault(f"failover: {order} (stop -m immediate, promote)")
        if not promote_first:
            await asyncio.to_thread(self.postgres.kill)
            await asyncio.sleep(detect_s)
        self.promoted_at = time.monotonic()
        await asyncio.to_thread(self.standby.promote)
        promoted = time.monotonic()
        if promote_first:
            await asyncio.sleep(detect_s)
            await asyncio.to_thread(self.postgres.kill)
        fault.ended = time.monotonic()
        fault.note = (
            f"promote run {self.promoted_at - fault.started:.1f}s after the start, "
            f"took {promoted - self.promoted_at:.1f}s"
        )
