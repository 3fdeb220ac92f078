"""A probe for work that blocks the event loop: how late a 10 ms sleep wakes up."""

import asyncio
import contextlib
import gc
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

TICK_S = 0.01


@dataclass
class LoopLag:
    worst_s: float = 0.0
    ticks: int = 0


async def _probe(lag: LoopLag) -> None:
    while True:
        started = time.perf_counter()
        await asyncio.sleep(TICK_S)
        lag.worst_s = max(lag.worst_s, time.perf_counter() - started - TICK_S)
        lag.ticks += 1


@contextlib.asynccontextmanager
async def loop_lag() -> AsyncIterator[LoopLag]:
    """Measure, while the block runs, the longest the loop was kept from a timer.

    The objects the test process gathered before the block (a thousand tests' worth in
    a full run) are collected and frozen first: a full collection scanning them stops
    the loop for tenths of a second, which is pytest's heap, not the code measured. The
    collector stays on for what the block allocates."""
    gc.collect()
    gc.freeze()
    lag = LoopLag()
    task = asyncio.create_task(_probe(lag))
    await asyncio.sleep(0)  # the probe's first sleep starts before the block does
    try:
        yield lag
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        gc.unfreeze()
