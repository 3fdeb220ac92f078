"""What the live hub reads per notification (issue 17: under SOS load the hub's reads of
the event log were as much of a server's time as opening the incidents).

Every server reads the log after every commit that records events. A catch-up reads one
page of events and the facts of their incidents in one statement each; it does not read
again to confirm the page was the last (a later commit notifies again), and a
notification for events already read costs nothing."""

import asyncio
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from api.live import enrich
from core.settings import Settings
from core.signals import EVENTS_CHANNEL
from notifications.live.hub import Batch, LiveHub, Subscription
from tests.factories import World
from tests.test_list_statements import statements_on

Maker = async_sessionmaker[AsyncSession]


def event_reads(seen: list[str]) -> list[str]:
    return [s for s in seen if "FROM incident_event" in s and "incident_event.id >" in s]


async def test_a_catch_up_reads_the_log_once_per_page_and_the_facts_in_one_statement(
    client: httpx.AsyncClient,
    engine: AsyncEngine,
    sessionmaker: Maker,
    settings: Settings,
    world: World,
) -> None:
    # Its own hub, with the slow poll out of the way: every read here follows a NOTIFY.
    hub = LiveHub(
        database_url=settings.database_url,
        sessionmaker=sessionmaker,
        enrich=enrich,
        poll_interval_s=3600,
    )
    await hub.start()
    try:
        async with asyncio.timeout(10):
            await hub.listening.wait()
        subscription = Subscription(world.org_id, frozenset())
        await hub.subscribe(subscription)
        batches: list[Batch] = []
        with statements_on(engine) as seen:
            for _ in range(3):  # an incident opened, then joined twice: a commit each
                answer = await client.post(
                    "/v1/sos",
                    json={"trigger": "button"},
                    headers={**world.elder, "Idempotency-Key": str(uuid.uuid4())},
                )
                assert answer.status_code in (200, 201), answer.text
                last = await hub.latest_id(world.org_id)
                # One commit at a time, so no notification lands during a read.
                async with asyncio.timeout(10):
                    while not batches or batches[-1].events[-1].id < last:
                        batches.append(await subscription.queue.get())
                await asyncio.sleep(0.3)  # any read that would follow the last page
        reads = event_reads(seen)
        assert len(reads) == len(batches), f"{len(reads)} reads for {len(batches)} pages"
        assert not [s for s in seen if s.startswith("SELECT offer.incident_id")]

        # A notification of events the hub has read already: no read at all.
        with statements_on(engine) as seen:
            await hub._on_notify(EVENTS_CHANNEL, f"{world.org_id}:{last}")
            await asyncio.sleep(0.3)
        assert event_reads(seen) == []
    finally:
        await hub.stop()
