"""The multi-actor stress run: real processes, many people acting on the same incidents
at once, then a settled database and every socket checked.

``run_stress(settings, StressConfig(rounds=...))`` returns a ``StressReport``; the test
runs a bounded number of rounds, ``python -m tests.stress`` (scripts/stress) longer ones.
"""

import asyncio
import random
import signal
import time
from collections import Counter
from contextlib import ExitStack

import httpx

from core.settings import Settings
from tests.stress import checks
from tests.stress.answers import Api, Recorder
from tests.stress.processes import Cluster, LogFindings, running_cluster, scan_logs
from tests.stress.report import StressReport, coverage
from tests.stress.run import Run, StressConfig
from tests.stress.scene import build_scene


async def _wait_outbox(settings: Settings, org: str, timeout: float = 30) -> int:
    """Wait until the worker sent (or gave up on) every message; how many are left."""
    deadline = time.monotonic() + timeout
    while True:
        left = await checks.pending_outbox(settings.database_url, org)
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.5)


async def _drive(
    cluster: Cluster, settings: Settings, config: StressConfig, report: StressReport
) -> None:
    rng = random.Random(report.seed)
    rec = Recorder()
    # Below the servers' keep-alive (5 s): a request never meets a connection being closed.
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=100, keepalive_expiry=2)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        scene = await build_scene(
            client,
            cluster.http[0],
            settings,
            rng=rng,
            elders=config.elders,
            responders=config.responders,
        )
        run = Run(cluster, scene, Api(client, cluster.http, rng, rec), config, rng)
        run.open_sockets()
        await asyncio.sleep(1)  # let every socket say hello before the first press
        started = time.monotonic()
        run.zero = asyncio.get_running_loop().time()

        def mark(what: str) -> None:
            report.timeline[what] = time.monotonic() - started

        await run.load()
        mark("load stopped")
        report.load_s = time.monotonic() - started
        report.rounds = run.rounds
        await run.settle()
        mark("incidents closed")
        if left := await _wait_outbox(settings, scene.org_id):
            rec.failures.append(f"{left} outbox messages still pending 30s after the load")
        mark("outbox drained")
        await asyncio.to_thread(cluster.stop_worker)
        snap = await checks.take_snapshot(settings.database_url, scene.org_id)
        mark("worker stopped")
        disabled = run.officers.disabled
        revoked = {disabled.chain.name} if disabled and disabled.chain else set()
        await asyncio.gather(
            *(c.finish(lambda ch: checks.owed(ch, snap), timeout=30) for c in run.chains)
        )
        mark("sockets closed")
    report.statuses = dict(rec.statuses)
    report.latencies = dict(rec.latencies)
    report.socket_receipts = rec.socket_receipts
    report.events = Counter(e["name"] for e in snap.events)
    report.incidents = Counter(i["state"] for i in snap.incidents.values())
    report.sockets = {
        "clients": len(run.chains),
        "connections": sum(len(c.connections) for c in run.chains),
        "closed 1011": sum(c.close_code == 1011 for ch in run.chains for c in ch.connections),
        "closed 1011 (slow clients)": sum(
            c.close_code == 1011 for ch in run.chains if ch.slow for c in ch.connections
        ),
        "closed 4401": sum(c.close_code == 4401 for ch in run.chains for c in ch.connections),
        "reconnects by choice": sum(c.voluntary_reconnects for c in run.chains),
        "events received": sum(len(c.received) for c in run.chains),
    }
    report.failures = {
        "answers (5xx, unexpected statuses, timeouts)": rec.failures,
        "settled": checks.check_settled(snap),
        "incidents and offers": checks.check_incidents(snap),
        "one active incident per elder": checks.check_one_active_per_elder(snap),
        "SOS idempotency": checks.check_sos(rec.sos, snap),
        "event ids gapless": checks.check_event_ids(snap),
        "live sockets": [
            p
            for c in run.chains
            for p in checks.check_chain(c, snap, revoked_expected=c.name in revoked, zero=run.zero)
        ],
        "the run did what it should": coverage(report, disabled=run.officers.disabled is not None),
    }


async def run_stress(settings: Settings, config: StressConfig) -> StressReport:
    """Start the processes, run the load, settle, check everything. A failed check does
    not raise (the report holds it); only a broken harness does."""
    seed = config.seed if config.seed is not None else random.randrange(1 << 30)
    report = StressReport(seed=seed, log_dir=config.log_dir)
    started = time.monotonic()
    with ExitStack() as stack:
        # Starting and stopping processes blocks: off the event loop.
        cluster = await asyncio.to_thread(
            stack.enter_context,
            running_cluster(
                settings,
                config.log_dir,
                small_queue_batches=config.small_queue_batches,
                pool=config.db_pool,
            ),
        )
        try:
            await _drive(cluster, settings, config, report)
        finally:
            await asyncio.to_thread(cluster.stop_all)
            report.exit_codes = cluster.exit_codes()
            await asyncio.to_thread(stack.close)
    logs: LogFindings = scan_logs(cluster.logs)
    report.retries, report.retries_by_process = logs.retries, logs.retries_by_process
    report.deadlock_lines = logs.deadlocks
    report.failures["process logs"] = logs.offending
    # uvicorn re-raises the SIGTERM it handled: -15 is a clean stop; -9 means it hung.
    report.failures["processes stopped cleanly"] = [
        f"{name} exited with {code}"
        for name, code in report.exit_codes.items()
        if code not in (0, -signal.SIGTERM)
    ]
    report.total_s = time.monotonic() - started
    return report
