"""Test fixtures: a fresh PostGIS database migrated once per run, the app in-process.

HTTP tests commit for real (each builds its own organization, so they do not
see each other); repository tests use a transaction rolled back after the test.
"""

import os
from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.app import create_app
from core.db import create_engine
from core.migrations import upgrade_to_head
from core.settings import Settings
from tests.factories import World, build_world

ADMIN_EMAIL = "admin@phikat.test"
ADMIN_PASSWORD = "admin-password-for-tests"


def _recreate_database(url: str) -> None:
    parsed = make_url(url)
    maintenance = parsed.set(drivername="postgresql", database="postgres")
    conninfo = maintenance.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{parsed.database}"')


@pytest.fixture(scope="session")
def database_url() -> str:
    url = os.environ.get("PHIKAT_TEST_DATABASE_URL")
    if not url:
        pytest.exit(
            "PHIKAT_TEST_DATABASE_URL is not set: run the suite with scripts/test, which "
            "starts a private PostGIS and sets it.",
            returncode=2,
        )
    _recreate_database(url)
    upgrade_to_head(url)
    return url


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key="test-secret-key-0123456789abcdef0123456789",
        admin_email=ADMIN_EMAIL,
        admin_password=ADMIN_PASSWORD,
        db_pool_size=20,
        db_max_overflow=20,
        # Tests fire deadlines themselves, at the moment they choose.
        run_worker=False,
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://phikat.test") as c:
        yield c


@pytest.fixture(scope="session")
def engine(app: FastAPI) -> AsyncEngine:
    engine: AsyncEngine = app.state.engine
    return engine


@pytest.fixture(scope="session")
def sessionmaker(app: FastAPI) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    return maker


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[AsyncSession]:
    """A session inside a transaction that is rolled back after the test."""
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    async with engine.connect() as conn:
        transaction = await conn.begin()
        session = AsyncSession(
            bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()
    await engine.dispose()


@pytest.fixture
async def world(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> World:
    """A committed organization with an officer, zones, responders and an elder."""
    return await build_world(sessionmaker, settings)


@pytest.fixture
async def other_world(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings) -> World:
    """A second, unrelated organization: for tenant isolation."""
    return await build_world(sessionmaker, settings)


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"
