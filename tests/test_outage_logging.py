"""Background loops back off while the database is away and log once per outage, not a
traceback per poll; they say when they work again."""

import asyncio
import logging

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import create_engine, create_sessionmaker
from core.outage import Outage
from dispatch.deadlines import run_worker
from dispatch.privacy.retention import run_retention
from tests.live_support import free_port


def test_an_outage_is_logged_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("phikat.test")
    outage = Outage(log, "polling", max_delay_s=4)
    refused = ConnectionRefusedError("connection refused")
    with caplog.at_level(logging.INFO, logger="phikat.test"):
        delays = [outage.failed(refused) for _ in range(50)]
        outage.succeeded()
        outage.succeeded()
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING"]
    assert "database unavailable" in caplog.records[0].getMessage()
    assert "working again" in caplog.records[1].getMessage()
    assert delays[0] < delays[3] and max(delays) == 4  # backs off, up to the cap


@pytest.fixture
async def nowhere() -> async_sessionmaker[AsyncSession]:
    """A sessionmaker whose database refuses every connection."""
    engine = create_engine(
        f"postgresql+psycopg://nobody:x@127.0.0.1:{free_port()}/none", pool_size=1
    )
    return create_sessionmaker(engine)


async def test_the_worker_and_the_sweep_do_not_write_a_traceback_per_poll(
    nowhere: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    stop = asyncio.Event()
    with caplog.at_level(logging.INFO):
        loops = asyncio.gather(
            run_worker(nowhere, stop=stop, poll_interval_s=0.05),
            run_retention(nowhere, stop=stop, retention_days=30, interval_s=0.05),
        )
        await asyncio.sleep(3)
        stop.set()
        await asyncio.wait_for(loops, 10)
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 2, [r.getMessage() for r in problems]  # one per loop
    assert all(r.exc_info is None for r in problems)  # a reason, not a traceback
