"""What the shared rate limiter costs a request: one GCRA UPSERT in the request's
transaction, next to the same transaction without it.

Each sample is a whole transaction on one pooled connection (begin, statements,
commit), as a request's unit of work is: ``SELECT 1`` alone (the floor), then
``SELECT 1`` + ``take()`` on a key per caller (1,000 callers, as location
updates from many phones), then one hot key (a single phone's burst, refused
once the bucket is empty).

    scripts/bench rate_limit [--samples 3000]
"""

import argparse
import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from bench.common import percentile, scratch_database
from core.db import create_engine, create_sessionmaker
from core.errors import TooManyRequests
from core.rate_limit import Rate, take

Body = Callable[[AsyncSession, int], Awaitable[None]]


async def run(url: str, samples: int) -> None:
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    rate = Rate(30)

    async def timed(body: Body) -> list[float]:
        latencies = []
        for i in range(samples):
            start = time.perf_counter()
            async with sessions() as session, session.begin():
                await session.execute(text("SELECT 1"))
                with contextlib.suppress(TooManyRequests):
                    await body(session, i)
            latencies.append(time.perf_counter() - start)
        return latencies

    async def nothing(session: AsyncSession, i: int) -> None:
        return None

    async def many_keys(session: AsyncSession, i: int) -> None:
        await take(session, f"bench:{i % 1000}", rate, what="x")

    async def hot_key(session: AsyncSession, i: int) -> None:
        await take(session, "bench:hot", rate, what="x")

    await timed(nothing)
    results = {
        "transaction alone": await timed(nothing),
        "+ take(), 1,000 keys": await timed(many_keys),
        "+ take(), one hot key (refused)": await timed(hot_key),
    }
    await engine.dispose()
    base = percentile(results["transaction alone"], 50)
    for label, values in results.items():
        p50, p99 = percentile(values, 50), percentile(values, 99)
        print(
            f"{label:<34} p50 {p50 * 1000:6.2f} ms  p99 {p99 * 1000:6.2f} ms  "
            f"({p50 / base:4.2f}x the bare transaction)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=3000)
    url = scratch_database("phikat_bench_rate_limit")  # migrates: outside the event loop
    asyncio.run(run(url, parser.parse_args().samples))


if __name__ == "__main__":
    main()
