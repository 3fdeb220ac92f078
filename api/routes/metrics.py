"""GET /metrics for Prometheus: the processes' counters (multiprocess-safe) and what the
database knows at this moment (outbox depth and oldest age, overdue deadlines)."""

import asyncio
import hmac
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.errors import Forbidden, Unauthenticated
from core.metrics import forget_dead_processes
from core.settings import Settings

log = logging.getLogger("phikat.metrics")
router = APIRouter(tags=["operations"])

DATABASE_READ_TIMEOUT_S = 2.0
LOOPBACK = {"127.0.0.1", "::1"}

_OUTBOX = text(
    "select route, count(*), coalesce(extract(epoch from now() - min(created_at)), 0) "
    "from outbox_message where state = 'pending' group by route"
)
# Overdue by more than a poll or two: a worker that runs fires deadlines within a second.
_DEADLINES = text(
    "select count(*), coalesce(extract(epoch from now() - min(due_at)), 0) from deadline "
    "where fired_at is null and due_at < now() - interval '5 seconds'"
)


@dataclass
class DatabaseFigures:
    up: bool
    outbox: dict[str, tuple[int, float]]
    deadlines_overdue: int = 0
    worker_lag_s: float = 0.0


async def read_database(engine: AsyncEngine) -> DatabaseFigures:
    try:
        async with asyncio.timeout(DATABASE_READ_TIMEOUT_S), engine.connect() as conn:
            outbox = {
                str(route): (int(n), float(age)) for route, n, age in await conn.execute(_OUTBOX)
            }
            overdue, lag = (await conn.execute(_DEADLINES)).one()
    except Exception as exc:  # the scrape still shows the processes' own figures
        log.warning("metrics: the database could not be read (%s)", type(exc).__name__)
        return DatabaseFigures(up=False, outbox={})
    return DatabaseFigures(True, outbox, int(overdue), float(lag))


class DatabaseCollector(Collector):
    def __init__(self, figures: DatabaseFigures) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        figures = self.figures
        yield GaugeMetricFamily(
            "phikat_database_up", "The database answered this scrape", value=int(figures.up)
        )
        if not figures.up:
            return
        depth = GaugeMetricFamily(
            "phikat_outbox_pending", "Messages waiting to be sent, by route", labels=["route"]
        )
        oldest = GaugeMetricFamily(
            "phikat_outbox_oldest_age_seconds",
            "Age of the oldest message waiting, by route",
            labels=["route"],
        )
        for route in ("push", "sms"):
            depth.add_metric([route], figures.outbox.get(route, (0, 0.0))[0])
            oldest.add_metric([route], figures.outbox.get(route, (0, 0.0))[1])
        for route, (n, age) in figures.outbox.items():
            if route not in ("push", "sms"):
                depth.add_metric([route], n)
                oldest.add_metric([route], age)
        yield depth
        yield oldest
        yield GaugeMetricFamily(
            "phikat_deadlines_overdue",
            "Deadlines past due by more than 5 s and not fired",
            value=figures.deadlines_overdue,
        )
        yield GaugeMetricFamily(
            "phikat_worker_lag_seconds",
            "How long the most overdue deadline has waited (0: none)",
            value=figures.worker_lag_s,
        )


def _authorize(request: Request, settings: Settings) -> None:
    token = settings.metrics_token
    if token is None:
        client = request.client.host if request.client else ""
        if client not in LOOPBACK:
            raise Forbidden("metrics are served to loopback only (or set PHIKAT_METRICS_TOKEN)")
        return
    sent = request.headers.get("authorization", "")
    expected = f"Bearer {token.get_secret_value()}"
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise Unauthenticated("Send 'Authorization: Bearer <the metrics token>'.")


def process_registry() -> CollectorRegistry:
    """Every process's figures when they share PROMETHEUS_MULTIPROC_DIR, else this one's."""
    if directory := os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        forget_dead_processes(directory)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    _authorize(request, settings)
    figures = await read_database(request.app.state.engine)
    database = CollectorRegistry()
    database.register(DatabaseCollector(figures))
    # Reading the multiprocess files is blocking file I/O: off the event loop.
    body = await asyncio.to_thread(
        lambda: generate_latest(process_registry()) + generate_latest(database)
    )
    return Response(body, media_type=CONTENT_TYPE_LATEST)
