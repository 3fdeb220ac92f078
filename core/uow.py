"""The unit of work: one transaction per command, events written last, then commit.

Lock order (docs/decisions.md, "Lock order"): every command takes its row locks in
one order, so two commands never wait on each other crosswise:

    rate-limit bucket → the acting account (user, responder, elder, device token)
    → incidents (ascending id) → offers → outbox and deadline rows → event counter

Rows are locked ``FOR NO KEY UPDATE`` (no command changes a key), which does not
conflict with the ``FOR KEY SHARE`` that a foreign-key check takes: inserting an
event, an offer or an outbox row that references a locked row does not wait.
The event counter is taken last, at commit (``flush_recorded_events``).

Should PostgreSQL still abort a transaction as a deadlock (40P01) or a
serialization failure (40001), the whole unit of work runs again, a bounded
number of times: nothing of the aborted attempt was committed, so idempotency
(an SOS's Idempotency-Key, a repeated accept) holds through the retries.
"""

import asyncio
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.events.log import flush_recorded_events

log = logging.getLogger("phikat.uow")

T = TypeVar("T")

# SQLSTATEs after which the same transaction, run again, can succeed.
RETRYABLE_SQLSTATES = {"40P01": "deadlock_detected", "40001": "serialization_failure"}
MAX_ATTEMPTS = 5

# Retries taken by this process, by SQLSTATE: read by tests and benchmarks.
retries_taken: Counter[str] = Counter()


def retryable_sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE if ``exc`` (or what it wraps) is a deadlock or serialization failure."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        state = getattr(current, "sqlstate", None)
        if state in RETRYABLE_SQLSTATES:
            return str(state)
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return None


def retry_delay_s(attempt: int) -> float:
    """A short, jittered pause, so the transactions that met do not meet again."""
    return random.uniform(0, 0.02 * 2**attempt)  # noqa: S311 - jitter, not a secret


def note_retry(sqlstate: str, attempt: int, what: str) -> None:
    retries_taken[sqlstate] += 1
    log.warning(
        "transaction retried after %s (%s), attempt %d of %d: %s",
        RETRYABLE_SQLSTATES[sqlstate],
        sqlstate,
        attempt + 1,
        MAX_ATTEMPTS,
        what,
    )


async def commit(session: AsyncSession) -> None:
    await flush_recorded_events(session)
    await session.commit()


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One transaction: commits when the block ends cleanly, rolls back otherwise.

    A block cannot be run again; commands that may meet others use ``in_transaction``.
    """
    async with sessionmaker() as session:
        try:
            yield session
            await commit(session)
        except BaseException:
            await session.rollback()
            raise


async def in_transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    what: str = "",
) -> T:
    """Run ``work`` in one unit of work; run it again after a deadlock or a
    serialization failure, at most ``MAX_ATTEMPTS`` times in all."""
    attempt = 1
    while True:
        try:
            async with unit_of_work(sessionmaker) as session:
                return await work(session)
        except Exception as exc:
            sqlstate = retryable_sqlstate(exc)
            if sqlstate is None or attempt >= MAX_ATTEMPTS:
                raise
            note_retry(sqlstate, attempt, what or getattr(work, "__name__", "work"))
            await asyncio.sleep(retry_delay_s(attempt))
            attempt += 1
