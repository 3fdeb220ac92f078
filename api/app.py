"""The FastAPI application factory."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api import live, unavailable
from api.body_limit import BodyLimitMiddleware
from api.live import enrich
from api.metrics_middleware import MetricsMiddleware
from api.problems import install_problem_handlers
from api.retry import RetryMiddleware
from api.routes import (
    auth,
    checkins,
    devices,
    dispatch_policy,
    elders,
    handoff,
    health,
    incidents,
    line,
    orgs,
    pages,
    privacy,
    reports,
    responders,
    safe_zones,
    sos,
    users,
    zones,
)
from api.routes import metrics as metrics_route
from api.routes.pages import mount_assets
from api.security_headers import SecurityHeadersMiddleware
from core import metrics
from core.db import DbTuning, create_engine, create_sessionmaker, libpq_conninfo
from core.settings import Settings, get_settings
from core.tenancy.service import ensure_admin
from core.uow import unit_of_work
from dispatch.deadlines import run_worker
from dispatch.privacy.retention import run_retention
from notifications.channels.factory import build_channels
from notifications.live.hub import LiveHub
from notifications.sender import Channels, SenderOptions, run_sender

log = logging.getLogger("phikat")

DESCRIPTION = """
Backend of an SOS service for dependent elderly people run by a Thai local
government: an elder's SOS opens an incident, matched to a care zone in PostGIS.
Errors are RFC 9457 problem details (`application/problem+json`).
"""


class InsecureConfiguration(RuntimeError):
    pass


def check_configuration(settings: Settings) -> None:
    if settings.uses_insecure_secret and not settings.allow_insecure_secret:
        raise InsecureConfiguration(
            "PHIKAT_SECRET_KEY is not set. Set it to a long random value "
            "(or PHIKAT_ALLOW_INSECURE_SECRET=true for local development only)."
        )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    check_configuration(settings)
    engine = create_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        tuning=DbTuning.from_settings(settings),
    )
    app.state.engine = engine
    metrics.watch_pool(engine, size=settings.db_pool_size + settings.db_max_overflow)
    app.state.sessionmaker = create_sessionmaker(engine)
    watch = unavailable.DatabaseWatch(
        libpq_conninfo(settings.database_url, DbTuning.from_settings(settings)),
        interval_s=settings.db_watch_interval_s,
        timeout_s=settings.db_watch_timeout_s,
    )
    app.state.database_watch = watch
    watching = asyncio.create_task(watch.run(), name="database-watch")
    if settings.admin_email and settings.admin_password:
        async with unit_of_work(app.state.sessionmaker) as session:
            created = await ensure_admin(
                session,
                email=settings.admin_email,
                password=settings.admin_password.get_secret_value(),
            )
        if created:
            log.info("created the platform admin %s", settings.admin_email)
    hub = LiveHub(
        database_url=settings.database_url,
        sessionmaker=app.state.sessionmaker,
        enrich=enrich,
        poll_interval_s=settings.live_poll_s,
        tuning=DbTuning.from_settings(settings),
    )
    await hub.start()
    app.state.hub = hub
    stop = asyncio.Event()
    background: list[asyncio.Task[None]] = []
    channels = build_channels(settings)
    app.state.channels = channels  # the LINE webhook's replies use its LINE channel
    if settings.run_worker:
        background = start_workers(app.state.sessionmaker, channels, settings, stop)
    try:
        yield
    finally:
        stop.set()
        await asyncio.gather(*background)
        await channels.close()
        await hub.stop()
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        await engine.dispose()


def start_workers(
    sessionmaker: async_sessionmaker[AsyncSession],
    channels: Channels,
    settings: Settings,
    stop: asyncio.Event,
) -> list[asyncio.Task[None]]:
    """The deadline worker, the outbox sender and the retention sweep, until ``stop``."""
    return [
        asyncio.create_task(
            run_worker(sessionmaker, stop=stop, poll_interval_s=settings.worker_poll_s),
            name="deadline-worker",
        ),
        asyncio.create_task(
            run_sender(
                sessionmaker, channels, stop=stop, options=SenderOptions.from_settings(settings)
            ),
            name="outbox-sender",
        ),
        asyncio.create_task(
            run_retention(
                sessionmaker,
                stop=stop,
                retention_days=settings.location_retention_days,
                interval_s=settings.retention_sweep_s,
            ),
            name="retention-sweep",
        ),
    ]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(
        title="Phikat",
        version="1.0",
        summary="Emergency dispatch for dependent elderly people",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_problem_handlers(app)
    app.add_exception_handler(Exception, unavailable.error_handler)
    app.state.fallback_phones = unavailable.FallbackPhones()
    # Innermost: a request PostgreSQL aborted as a deadlock runs again, whole.
    app.add_middleware(RetryMiddleware)
    app.add_middleware(unavailable.UnavailableMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            expose_headers=["Idempotent-Replayed", "Retry-After"],
        )
    app.add_middleware(SecurityHeadersMiddleware, tiles_url=settings.map_tiles_url)
    app.add_middleware(
        BodyLimitMiddleware,
        default_limit=settings.max_body_bytes,
        overrides=[(r"/v1/orgs/[^/]+/zones", settings.max_zone_import_bytes)],
    )
    # Outermost: every answer counted, also those of the middlewares inside.
    app.add_middleware(MetricsMiddleware)
    for module in (
        health,
        auth,
        orgs,
        users,
        zones,
        responders,
        elders,
        privacy,
        devices,
        safe_zones,
        checkins,
        sos,
        incidents,
        dispatch_policy,
        handoff,
        line,
        reports,
        live,
        metrics_route,
        pages,
    ):
        app.include_router(module.router)
    mount_assets(app, settings.web_assets_dir)
    return app
