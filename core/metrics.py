"""Prometheus metrics: what an on-call person needs to see, from every process.

Several ``phikat serve`` processes and workers run at once, so the metrics are
multiprocess-safe: with ``PROMETHEUS_MULTIPROC_DIR`` set (to one directory for all
of them, emptied when the whole service starts; see docs/production.md) each process
writes its values there and ``/metrics`` on any server adds them up. Without it
(development, tests) a process shows its own.

Facts the database already knows (outbox depth, overdue deadlines) are read from it
at scrape time (``api/routes/metrics.py``), not counted here: they stay true across
restarts and whichever process scrapes.
"""

import os
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram, multiprocess
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

SOS = Counter(
    "phikat_sos_total",
    "SOS requests by outcome: opened, joined, replayed (Idempotency-Key), rate_limited, "
    "unavailable (503 with the fallback phone), rejected (other 4xx), error (5xx)",
    ["outcome"],
)
SOS_TO_FIRST_OFFER = Histogram(
    "phikat_sos_to_first_offer_seconds",
    "From an incident's opening to its first offer being committed",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
OFFER_TO_RECEIPT = Histogram(
    "phikat_offer_to_receipt_seconds",
    "From an offer being sent to its delivery receipt from the responder's phone",
    buckets=(0.25, 0.5, 1, 2, 3, 5, 10, 15, 30, 60, 120, 300),
)
OFFERS_UNRECEIVED = Counter(
    "phikat_offers_unreceived_total",
    "Offers with no delivery receipt in time (sent again by SMS)",
)
MESSAGES_SENT = Counter("phikat_messages_sent_total", "Deliveries a channel accepted", ["channel"])
MESSAGE_FAILURES = Counter(
    "phikat_message_failures_total",
    "Deliveries a channel did not accept, by reason: retry (transient, tried again), "
    "invalid_address, refused, timeout, channel_error",
    ["channel", "reason"],
)
WORKER_HEARTBEAT = Gauge(
    "phikat_worker_heartbeat_timestamp_seconds",
    "When a deadline worker last went round its loop (unix time)",
    multiprocess_mode="max",
)
LIVE_SOCKETS = Gauge(
    "phikat_live_sockets", "Open live WebSocket connections", multiprocess_mode="livesum"
)
LIVE_DROPPED = Counter(
    "phikat_live_slow_consumers_dropped_total",
    "Live sockets closed because the client could not keep up",
)
DB_POOL_IN_USE = Gauge(
    "phikat_db_pool_connections_in_use",
    "Database connections checked out of the pools",
    multiprocess_mode="livesum",
)
DB_POOL_SIZE = Gauge(
    "phikat_db_pool_connections_max",
    "Connections the pools may open (size + overflow)",
    multiprocess_mode="livesum",
)
HTTP_5XX = Counter(
    "phikat_http_5xx_total", "Answers with a 5xx status, by route template", ["route", "status"]
)

_AFTER_COMMIT = "phikat.metrics_after_commit"


def after_commit(session: AsyncSession, observe: Callable[[], None]) -> None:
    """Run ``observe`` once the caller's transaction commits: a transaction retried
    after a deadlock, or rolled back, is not counted."""
    session.sync_session.info.setdefault(_AFTER_COMMIT, []).append(observe)


@event.listens_for(Session, "after_commit")
def _observe_committed(session: Session) -> None:
    for observe in session.info.pop(_AFTER_COMMIT, []):
        observe()


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)


def watch_pool(engine: AsyncEngine, *, size: int) -> None:
    """Count this engine's checked-out connections."""
    DB_POOL_SIZE.inc(size)
    pool = engine.sync_engine.pool
    event.listen(pool, "checkout", lambda *_: DB_POOL_IN_USE.inc())
    event.listen(pool, "checkin", lambda *_: DB_POOL_IN_USE.dec())


def heartbeat() -> None:
    WORKER_HEARTBEAT.set(time.time())


def forget_dead_processes(directory: str) -> None:
    """Drop the "live" gauges (live sockets, pool use) of processes that are gone.
    prometheus-client sums a ``livesum`` gauge over every process's file in the folder
    until ``mark_process_dead`` is called for its pid, so a server killed or restarted
    alone (the folder is emptied only when the whole target restarts) would count its
    sockets and pool for ever. The worker heartbeat (``max``) stays, on purpose. Run at
    each scrape; blocking file I/O."""
    for file in Path(directory).glob("gauge_live*_*.db"):
        pid = file.stem.rpartition("_")[2]
        if pid.isdigit() and not _running(int(pid)):
            multiprocess.mark_process_dead(int(pid), directory)  # type: ignore[no-untyped-call]


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: no signal, only whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, under another user
        return True
    return True
