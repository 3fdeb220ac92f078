"""/metrics (issue 16): present and moving after an SOS, multiprocess-safe across real
serve and worker processes, closed to strangers; the alert rules checked by promtool;
log lines that carry the incident they concern."""

import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from api.metrics_middleware import MetricsMiddleware
from core.settings import Settings
from core.uow import unit_of_work
from dispatch import offers
from dispatch.deadlines import fire_due
from dispatch.models import Deadline
from tests.dispatch_helpers import sos
from tests.factories import World
from tests.live_support import ServerProcess

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy" / "prometheus"
Maker = async_sessionmaker[AsyncSession]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def test_metrics_move_after_an_sos_an_offer_and_its_receipt(
    client: httpx.AsyncClient, world: World
) -> None:
    before = await scrape(client)
    incident = await sos(client, world)
    detail = await client.get(f"/v1/incidents/{incident}", headers=world.responder)
    offer_id = detail.json()["offers"][0]["id"]
    received = await client.post(f"/v1/offers/{offer_id}/received", headers=world.responder)
    assert received.status_code == 204
    joined = await client.post(
        "/v1/sos", json={}, headers={**world.elder, "Idempotency-Key": str(uuid.uuid4())}
    )
    assert joined.status_code == 200
    after = await scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("phikat_sos_total", outcome="opened") == 1
    assert grew("phikat_sos_total", outcome="joined") == 1
    assert grew("phikat_sos_to_first_offer_seconds_count") == 1
    assert grew("phikat_offer_to_receipt_seconds_count") == 1
    assert value(after, "phikat_database_up") == 1
    # No sender runs in these tests: the offer's push waits in the outbox.
    assert value(after, "phikat_outbox_pending", route="push") >= 1
    assert value(after, "phikat_outbox_oldest_age_seconds", route="push") >= 0
    assert value(after, "phikat_db_pool_connections_max") > 0
    assert ("phikat_deadlines_overdue", frozenset()) in after


@pytest.fixture
def metrics_token(app: FastAPI) -> Iterator[str]:
    original = app.state.settings
    token = "scrape-" + uuid.uuid4().hex
    app.state.settings = original.model_copy(update={"metrics_token": SecretStr(token)})
    try:
        yield token
    finally:
        app.state.settings = original


async def test_metrics_answer_only_the_scrape_token_or_loopback(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    stranger = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("203.0.113.9", 40000)),
        base_url="http://phikat.test",
    )
    async with stranger:
        refused = await stranger.get("/metrics")
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"


async def test_with_a_token_even_loopback_must_send_it(
    client: httpx.AsyncClient, metrics_token: str
) -> None:
    assert (await client.get("/metrics")).status_code == 401
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = await client.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})
    assert right.status_code == 200


async def test_5xx_are_counted_by_route_template_not_raw_path() -> None:
    async def boom(request: Request) -> PlainTextResponse:
        raise RuntimeError("a bug")

    inner = Starlette(routes=[Route("/v1/things/{thing_id}", boom)])
    app = MetricsMiddleware(inner)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    before = parse(_latest())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        for n in range(3):
            assert (await c.get(f"/v1/things/{n}")).status_code == 500
    after = parse(_latest())
    labels = {"route": "/v1/things/{thing_id}", "status": "500"}
    counted = value(after, "phikat_http_5xx_total", **labels)
    assert counted - value(before, "phikat_http_5xx_total", **labels) == 3


def _latest() -> str:
    return generate_latest(REGISTRY).decode()


def test_the_alert_rules_are_valid_and_fire_as_their_unit_tests_say() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "scripts/test installs Debian's prometheus package (promtool)"
    for args in (
        ["check", "rules", "phikat-alerts.yml"],
        ["test", "rules", "phikat-alerts.test.yml"],
    ):
        result = subprocess.run(
            [promtool, *args], cwd=RULES, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "SUCCESS" in result.stdout


@pytest.mark.slow
async def test_one_scrape_adds_up_every_serve_and_worker_process(
    settings: Settings, world: World, tmp_path: Path
) -> None:
    shared = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    worker = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "api", "worker"],
        env={**_env(settings), **shared, "PHIKAT_WORKER_POLL_S": "0.2"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    first = await asyncio.to_thread(ServerProcess, settings, **shared)
    second = await asyncio.to_thread(ServerProcess, settings, **shared)
    try:
        async with httpx.AsyncClient(base_url=first.http) as one:
            opened = await one.post(
                "/v1/sos", json={}, headers={**world.elder, "Idempotency-Key": str(uuid.uuid4())}
            )
            assert opened.status_code == 201, opened.text
        deadline = time.monotonic() + 60  # three processes starting on busy cores
        async with httpx.AsyncClient(base_url=second.http) as other:
            while True:
                samples = parse((await other.get("/metrics")).text)
                # The SOS went to the first server; the heartbeat is the worker's.
                sos_seen = value(samples, "phikat_sos_total", outcome="opened") >= 1
                heartbeat = value(samples, "phikat_worker_heartbeat_timestamp_seconds")
                if sos_seen and heartbeat > time.time() - 30:
                    break
                assert time.monotonic() < deadline, sorted(k[0] for k in samples)
                await asyncio.sleep(0.2)
        # Three processes' pools, each at the default size (their own settings).
        per_process = sum(
            Settings.model_fields[name].default for name in ("db_pool_size", "db_max_overflow")
        )
        assert value(samples, "phikat_db_pool_connections_max") == 3 * per_process
        # A server killed alone (no clean exit; the folder is not emptied): its live
        # gauges leave the sum at the next scrape, they do not stay for ever.
        first.proc.kill()
        await asyncio.to_thread(first.proc.wait)
        async with httpx.AsyncClient(base_url=second.http) as other:
            samples = parse((await other.get("/metrics")).text)
        assert value(samples, "phikat_db_pool_connections_max") == 2 * per_process
    finally:
        first.stop()
        second.stop()
        worker.terminate()
        await asyncio.to_thread(worker.wait, 10)


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "PHIKAT_DATABASE_URL": settings.database_url,
        "PHIKAT_SECRET_KEY": settings.secret_key.get_secret_value(),
        "PHIKAT_LOG_LEVEL": "WARNING",
    }


def test_json_log_lines_carry_the_incident_they_concern(tmp_path: Path) -> None:
    """In a process configured as `phikat` does, with PHIKAT_LOG_FORMAT=json."""
    incident = uuid.uuid4()
    script = (
        "import logging, uuid\n"
        "from core import log_context\n"
        "log_context.configure('INFO', 'json')\n"
        "log = logging.getLogger('phikat.test')\n"
        "log.info('before')\n"
        f"with log_context.about(uuid.UUID('{incident}')):\n"
        "    log.warning('inside %s', 'password=hunter2')\n"
        "    try:\n"
        "        raise RuntimeError('token=abc123')\n"
        "    except RuntimeError:\n"
        "        log.exception('failed')\n"
        "log.info('after')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert [line["message"] for line in lines] == [
        "before",
        "inside password=[redacted]",
        "failed",
        "after",
    ]
    assert [line.get("incident_id") for line in lines] == [
        None,
        str(incident),
        str(incident),
        None,
    ]
    assert "abc123" not in result.stderr and "token=[redacted]" in lines[2]["exc_info"]
    assert {"time", "level", "logger"} <= set(lines[0])


async def test_a_failing_deadline_logs_its_incident(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    incident = await sos(client, world)
    async with unit_of_work(sessionmaker) as session:  # every deadline due now
        await session.execute(
            update(Deadline)
            .where(Deadline.organization_id == world.org_id, Deadline.fired_at.is_(None))
            .values(due_at=func.now() - timedelta(seconds=1))
        )

    async def crash(session: AsyncSession, **kwargs: object) -> None:
        raise ConnectionResetError("the handler broke")

    monkeypatch.setattr(offers, "expire_offer", crash)
    with caplog.at_level(logging.ERROR, logger="phikat.deadlines"):
        await fire_due(sessionmaker, organization_id=world.org_id, limit=1)
    (failed,) = [r for r in caplog.records if "failed; it will be retried" in r.getMessage()]
    assert failed.incident_id == incident  # type: ignore[attr-defined]
