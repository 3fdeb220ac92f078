"""Lanes: push and SMS are claimed and sent each on their own, so a slow SMS gateway
never delays an offer push; SMS go out concurrently."""

import asyncio
import contextlib
import logging
import time
import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import create_engine, create_sessionmaker
from notifications.channels.log import LogChannel
from notifications.messages import Route
from notifications.models import OutboxMessage
from notifications.outbox import wake_on_commit
from notifications.sender import Channels, SenderOptions, lanes, run_sender
from tests.factories import World
from tests.fake_fcm import FakeGoogle
from tests.live_support import free_port
from tests.outbox_support import (
    Maker,
    by_message,
    channels,
    google,
    queue,
    register,
    sender_settings,
    until,
)
from tests.test_list_statements import statements_on

__all__ = ["channels", "google", "sender_settings"]  # fixtures

SMS_DELAY_S = 4.0


async def test_a_stuck_sms_gateway_does_not_delay_offer_pushes(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    channels: Channels,
    google: FakeGoogle,
) -> None:
    token = f"tok-{uuid.uuid4().hex}"
    await register(client, world.responder, token)
    google.sms_delay_s = SMS_DELAY_S
    stop = asyncio.Event()
    sender = asyncio.create_task(
        run_sender(sessionmaker, channels, stop=stop, poll_interval_s=0.05)
    )
    try:
        sms_before = len(google.sms_arrived_at)
        await queue(sessionmaker, world, 3, route=Route.SMS)
        await until(
            lambda: len(google.sms_arrived_at) > sms_before,
            timeout_s=10,
            what="the SMS gateway to get a message",
        )
        # The gateway now sits on the SMS for seconds; offers come in meanwhile.
        latencies = []
        for _ in range(3):
            started = time.time()
            (message_id,) = await queue(sessionmaker, world, 1)
            await until(
                lambda m=message_id: m in by_message(google, token), timeout_s=30, what="the push"
            )
            latencies.append(by_message(google, token)[message_id][0]["at"] - started)
        await until(
            lambda: len(google.sms_arrived_at) >= sms_before + 3, timeout_s=30, what="all SMS"
        )
        arrivals = google.sms_arrived_at[sms_before:]
    finally:
        stop.set()
        google.sms_delay_s = 0.0
        await sender
    assert max(latencies) < 1.0, f"pushes waited behind the SMS: {latencies}"
    # The three SMS went to the gateway together, not one after the other.
    assert max(arrivals) - min(arrivals) < SMS_DELAY_S / 2, arrivals


async def test_with_the_database_away_each_lane_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = create_engine(f"postgresql+psycopg://nobody:x@127.0.0.1:{free_port()}/none")
    stop = asyncio.Event()
    logged = Channels(push=LogChannel("push"), sms=LogChannel("sms"))
    with caplog.at_level(logging.INFO):
        sender = asyncio.create_task(
            run_sender(create_sessionmaker(engine), logged, stop=stop, poll_interval_s=0.05)
        )
        await asyncio.sleep(3)
        stop.set()
        async with asyncio.timeout(10):
            await sender
    await engine.dispose()
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    one_each = len(lanes(create_sessionmaker(engine), logged, SenderOptions()))
    assert len(problems) == one_each, [r.getMessage() for r in problems]  # one per lane
    assert all(r.exc_info is None for r in problems)  # a reason, not a traceback


async def test_a_commit_wakes_only_the_lanes_of_the_routes_it_queued(
    sessionmaker: Maker, world: World
) -> None:
    """Issue 17: every commit that queued a message woke every lane of the process, and
    each lane ran a claim transaction that found nothing of its route (an SOS queues
    pushes and family messages; the LINE and 1669 lanes claimed for nothing)."""
    woken = {route: asyncio.Event() for route in Route}
    with contextlib.ExitStack() as lanes_of_this_process:
        for route, event in woken.items():
            lanes_of_this_process.enter_context(wake_on_commit(event, route.value))
        await queue(sessionmaker, world, 2, route=Route.PUSH)
        await queue(sessionmaker, world, 1, route=Route.SMS)
    assert {route for route, event in woken.items() if event.is_set()} == {Route.PUSH, Route.SMS}


async def test_a_lane_that_claimed_everything_due_does_not_claim_again_when_it_settles(
    client: httpx.AsyncClient, engine: AsyncEngine, sessionmaker: Maker, world: World
) -> None:
    """Issue 17: each settled lease made its lane claim again at once, a transaction that
    found nothing when the claim before had taken every due row (at concurrency 1 the
    sender's claims cost a server more than the SOS did). Claiming again on a settle is
    for a lane whose claim was limited by its room for messages in flight."""
    await register(client, world.responder, f"tok-{uuid.uuid4().hex}")
    logged = Channels(push=LogChannel("push"), sms=LogChannel("sms"))
    every_lane = len(lanes(sessionmaker, logged, SenderOptions()))
    stop = asyncio.Event()
    with statements_on(engine) as seen:
        # No poll within the test: every claim after each lane's first follows a wake.
        sender = asyncio.create_task(
            run_sender(sessionmaker, logged, stop=stop, poll_interval_s=60)
        )
        try:
            await until(
                lambda: len(claims(seen)) >= every_lane, timeout_s=10, what="the first claims"
            )
            first = len(claims(seen))
            ids = await queue(sessionmaker, world, 3)
            for _ in range(200):
                if await states(sessionmaker, ids) == {"sent"}:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the three pushes were not sent within 10 s")
            await asyncio.sleep(0.5)  # a claim that would follow the settled lease
        finally:
            stop.set()
            await sender
    woken = len(claims(seen)) - first
    assert woken == 1, f"{woken} claims for one commit"


def claims(seen: list[str]) -> list[str]:
    return [s for s in seen if s.startswith("WITH due AS") and "outbox_message" in s]


async def states(sessionmaker: Maker, ids: list[str]) -> set[str]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxMessage.state).where(OutboxMessage.id.in_([uuid.UUID(i) for i in ids]))
        )
        return {str(state) for state in rows}
