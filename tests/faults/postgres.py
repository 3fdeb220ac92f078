"""A throw-away PostGIS cluster of the fault suite's own: restarting the shared one would
disturb everyone else. Debian's binaries (as scripts/lib.sh finds them); as root the
server runs as the ``postgres`` user, with its data under /var/tmp where it can reach it.
The failover drill adds a synchronous streaming standby of it (``start_standby_of``)."""

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from tests.live_support import free_port

USER = "phikat"


def pg_bindir() -> Path:
    """The newest installed PostgreSQL that also has PostGIS (scripts/lib.sh's rule)."""
    root = Path("/usr/lib/postgresql")
    versions = sorted((p.name for p in root.iterdir()), key=float, reverse=True)
    for v in versions:
        if (root / v / "bin/initdb").exists() and Path(
            f"/usr/share/postgresql/{v}/extension/postgis.control"
        ).exists():
            return root / v / "bin"
    raise RuntimeError("no PostgreSQL with PostGIS installed")


def _as_owner(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


class ThrowawayPostgres:
    """initdb, start, restart (fast or immediate), stop and remove."""

    def __init__(self) -> None:
        self.bindir = pg_bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="phikat-faults-pg-", dir="/var/tmp"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.log = self.dir / "server.log"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/phikat"

    def _run(self, *args: str, timeout: float = 120) -> None:
        subprocess.run(
            _as_owner([str(self.bindir / args[0]), *args[1:]]),
            cwd="/",
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
        )

    def _own_dir(self) -> None:
        self.dir.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")

    def _sql(self, sql: str, dbname: str = "postgres") -> list[tuple[object, ...]]:
        info = f"host=127.0.0.1 port={self.port} user={USER} dbname={dbname}"
        with psycopg.connect(info, autocommit=True) as conn:
            cur = conn.execute(sql)
            return cur.fetchall() if cur.description else []

    def start(self) -> None:
        """A fresh cluster (trust on loopback: it lives for one run) with a database."""
        self._own_dir()
        self._run("initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8")
        self._pg_ctl("start")
        self._sql("create database phikat")

    def start_standby_of(self, primary: "ThrowawayPostgres") -> None:
        """A streaming standby of ``primary`` (pg_basebackup -R: standby.signal and
        primary_conninfo), made synchronous: from then on the primary acknowledges a
        commit only once the standby has it. The standby itself has no standby: promoted,
        it commits alone."""
        self._own_dir()
        self._run(
            "pg_basebackup", "-D", str(self.data), "-h", "127.0.0.1", "-p", str(primary.port),
            "-U", USER, "-X", "stream", "-R", "-c", "fast",
        )  # fmt: skip
        self._pg_ctl("start")
        primary._sql("alter system set synchronous_standby_names = '*'")
        primary._sql("select pg_reload_conf()")
        deadline = time.monotonic() + 30
        while primary._sql("select sync_state from pg_stat_replication") != [("sync",)]:
            if time.monotonic() > deadline:
                raise RuntimeError("the standby did not become synchronous")
            time.sleep(0.1)

    def promote(self) -> None:
        """``pg_ctl promote``, waiting until the standby takes writes."""
        self._pg_ctl("promote")

    def kill(self) -> None:
        """``pg_ctl stop -m immediate``: the machine is lost, its files stay."""
        self._pg_ctl("stop", "-m", "immediate")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
            "-c max_connections=200 -c fsync=off"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
            "-o", options, *extra, action,
        )  # fmt: skip

    def read_write(self) -> bool:
        return self._sql("select not pg_is_in_recovery()") == [(True,)]

    def restart(self, mode: str, down_s: float) -> float:
        """``pg_ctl stop -m fast|immediate``, ``down_s`` seconds down (a restart alone
        takes a quarter of a second), then start; how long it was away, in seconds."""
        started = time.monotonic()
        self._pg_ctl("stop", "-m", mode)
        time.sleep(down_s)
        self._pg_ctl("start")
        return time.monotonic() - started

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
