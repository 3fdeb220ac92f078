"""Leases: a sender claims messages and commits, sends with no transaction open, and
records the results only where its lease still holds. A sender that dies after the
provider accepted a batch costs at most one more send of it, after the lease; a failed
record is retried, not resent; two senders never send the same message at once."""

import asyncio
import signal
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select, text, update

from core.db import create_engine, create_sessionmaker
from core.settings import Settings
from core.uow import unit_of_work
from notifications.channels.base import Channel, Delivery, Outcome
from notifications.messages import Route
from notifications.models import OutboxMessage
from notifications.outbox_claim import claim, record
from notifications.sender import Channels, SenderOptions, run_sender, send_due
from tests.dispatch_helpers import event_names, sos
from tests.factories import World
from tests.fake_fcm import FakeGoogle
from tests.outbox_support import (
    Maker,
    by_message,
    channels,
    google,
    queue,
    register,
    sender_settings,
    start_worker,
    until,
)

__all__ = ["channels", "google", "sender_settings"]  # fixtures

LEASE_S = 8.0


class Spy:
    """A channel that notes how many database connections were in use while it sent."""

    def __init__(self, inner: Channel, in_use: Callable[[], int]) -> None:
        self.inner, self.name, self.in_use = inner, inner.name, in_use
        self.seen: list[int] = []

    async def send(self, deliveries: list[Delivery]) -> list[Outcome]:
        self.seen.append(self.in_use())
        return await self.inner.send(deliveries)

    async def close(self) -> None:
        return None


async def messages(sessionmaker: Maker, ids: list[str]) -> list[OutboxMessage]:
    async with sessionmaker() as session:
        return list(
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.id.in_([uuid.UUID(i) for i in ids]))
            )
        )


@pytest.mark.slow
async def test_a_sender_killed_after_the_provider_accepted_resends_once_after_the_lease(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    sender_settings: Settings,
    google: FakeGoogle,
) -> None:
    token = f"tok-{uuid.uuid4().hex}"
    await register(client, world.responder, token)
    google.held.add(token)  # FCM takes the pushes and keeps the sender waiting for its answer
    ids = await queue(sessionmaker, world, 5)
    lease = {"PHIKAT_SENDER_LEASE_S": str(LEASE_S)}
    try:
        with start_worker(sender_settings, google, **lease) as first:
            await until(lambda: len(by_message(google, token)) == 5, timeout_s=30, what="the batch")
            first.proc.send_signal(signal.SIGKILL)  # accepted by FCM, not yet recorded
            first.proc.wait(timeout=10)
    finally:
        google.held.discard(token)
    accepted_at = min(r[0]["at"] for r in by_message(google, token).values())
    with start_worker(sender_settings, google, **lease) as second:
        await until(
            lambda: all(len(r) >= 2 for r in by_message(google, token).values()),
            timeout_s=LEASE_S + 30,
            what="the messages to be sent again",
        )
        await asyncio.sleep(1.5)  # time for a third send, should there be one
        await second.ready()
        second.proc.send_signal(signal.SIGTERM)
        assert second.proc.wait(timeout=LEASE_S + 15) == 0
    assert not [line for line in second.log if " ERROR " in line], second.log
    sent = by_message(google, token)
    assert sorted(sent) == sorted(ids)
    assert {len(requests) for requests in sent.values()} == {2}, "sent twice at most"
    resent_after = min(requests[1]["at"] for requests in sent.values()) - accepted_at
    assert resent_after >= LEASE_S - 1.0, f"sent again {resent_after:.1f} s later, in the lease"
    rows = await messages(sessionmaker, ids)
    assert {(r.state, r.attempts, r.lease_token) for r in rows} == {("sent", 2, None)}


FAULT = [
    "CREATE SEQUENCE test_outbox_fault",
    """CREATE FUNCTION test_outbox_fault() RETURNS trigger AS $$
    BEGIN
      IF NEW.organization_id = '{org}' AND NEW.state = 'sent' AND OLD.state = 'pending'
         AND nextval('test_outbox_fault') <= {times} THEN
        RAISE EXCEPTION 'injected while recording' USING ERRCODE = '{sqlstate}';
      END IF;
      RETURN NEW;
    END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER test_outbox_fault BEFORE UPDATE ON outbox_message
    FOR EACH ROW EXECUTE FUNCTION test_outbox_fault()""",
]
NO_FAULT = [
    "DROP TRIGGER IF EXISTS test_outbox_fault ON outbox_message",
    "DROP FUNCTION IF EXISTS test_outbox_fault()",
    "DROP SEQUENCE IF EXISTS test_outbox_fault",
]


async def execute(sessionmaker: Maker, statements: list[str]) -> None:
    async with unit_of_work(sessionmaker) as session:
        for statement in statements:
            await session.execute(text(statement))


@pytest.mark.parametrize(
    ("sqlstate", "times"), [("40P01", 1), ("XX000", 2)], ids=["deadlock", "failure"]
)
async def test_a_failure_while_recording_does_not_send_the_batch_again(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    channels: Channels,
    google: FakeGoogle,
    sqlstate: str,
    times: int,
) -> None:
    token = f"tok-{uuid.uuid4().hex}"
    await register(client, world.responder, token)
    fault = [f.format(org=world.org_id, times=times, sqlstate=sqlstate) for f in FAULT]
    await execute(sessionmaker, NO_FAULT + fault)
    stop = asyncio.Event()
    sender = asyncio.create_task(
        run_sender(sessionmaker, channels, stop=stop, poll_interval_s=0.05)
    )
    try:
        ids = await queue(sessionmaker, world, 20)

        async def settled() -> bool:
            return all(r.state == "sent" for r in await messages(sessionmaker, ids))

        deadline = time.monotonic() + 30
        while not await settled():
            assert time.monotonic() < deadline, "the messages were not all recorded as sent"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # time for a resend, should there be one
        async with sessionmaker() as session:
            injected = await session.scalar(text("SELECT last_value FROM test_outbox_fault"))
        assert injected is not None and injected > times, "the fault never fired"
    finally:
        stop.set()
        await sender
        await execute(sessionmaker, NO_FAULT)
    sent = by_message(google, token)
    assert sorted(sent) == sorted(ids)
    assert {len(requests) for requests in sent.values()} == {1}, "the batch was sent again"


async def test_a_lease_taken_over_after_it_expired_is_recorded_only_by_its_new_holder(
    world: World, sessionmaker: Maker
) -> None:
    ids = {uuid.UUID(i) for i in await queue(sessionmaker, world, 3)}

    async def take(owner: str) -> tuple[uuid.UUID, dict[uuid.UUID, int]]:
        async with unit_of_work(sessionmaker) as session:
            lease = await claim(session, route="push", owner=owner, lease_s=60, limit=1000)
        return lease.token, {r.id: r.attempts for r in lease.rows if r.id in ids}

    first, taken = await take("sender-a")
    assert set(taken) == ids
    _, again = await take("sender-b")
    assert again == {}, "claimed while another sender's lease held"
    # Sender A hangs past its lease: the rows are due again, and B takes them.
    async with unit_of_work(sessionmaker) as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(next_attempt_at=func.now() - timedelta(seconds=1))
        )
    second, taken = await take("sender-b")
    assert taken == dict.fromkeys(ids, 2)

    async def settle(token: uuid.UUID) -> int:
        async with unit_of_work(sessionmaker) as session:
            return await record(
                session,
                lease_token=token,
                channel="fcm",
                results={i: [("tok", Outcome(ok=True))] for i in ids},
                max_attempts=6,
            )

    assert await settle(first) == 0, "A recorded rows that are B's now"
    rows = await messages(sessionmaker, [str(i) for i in ids])
    assert {(r.state, r.lease_token, r.lease_owner) for r in rows} == {
        ("pending", second, "sender-b")
    }
    assert await settle(second) == 3
    rows = await messages(sessionmaker, [str(i) for i in ids])
    assert {(r.state, r.lease_token) for r in rows} == {("sent", None)}


async def test_a_message_whose_senders_kept_dying_fails_without_being_sent_again(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    channels: Channels,
    google: FakeGoogle,
) -> None:
    token = f"tok-{uuid.uuid4().hex}"
    await register(client, world.responder, token)
    incident = await sos(client, world)
    async with unit_of_work(sessionmaker) as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.incident_id == uuid.UUID(incident))
            .values(
                attempts=6,
                lease_token=uuid.uuid4(),
                next_attempt_at=datetime.now(UTC) - timedelta(seconds=1),
            )
        )
    while await send_due(sessionmaker, channels):
        pass
    assert by_message(google, token) == {}
    async with sessionmaker() as session:
        rows = list(
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.incident_id == uuid.UUID(incident))
            )
        )
    # The responder's offer and the family's "help is being arranged" SMS.
    assert {row.route for row in rows} == {"push", "sms"}
    for row in rows:
        assert row.state == "failed" and "the sender stopped" in (row.last_error or "")
    assert (await event_names(sessionmaker, incident))[-1] == "message.failed"


async def test_senders_never_send_the_same_message_at_once(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    channels: Channels,
    google: FakeGoogle,
) -> None:
    token = f"tok-{uuid.uuid4().hex}"
    await register(client, world.responder, token)
    google.fcm_delay_s, google.fcm_overlap = 0.02, 0
    stop = asyncio.Event()
    options = SenderOptions(poll_interval_s=0.05, push_batch=10, push_in_flight=30)
    senders = [
        asyncio.create_task(run_sender(sessionmaker, channels, stop=stop, options=options))
        for _ in range(4)
    ]
    try:
        ids: list[str] = []
        for _ in range(6):  # bursts: every sender is woken by each commit
            ids += await queue(sessionmaker, world, 50)
        await until(
            lambda: len(by_message(google, token)) == len(ids), timeout_s=60, what="all pushes"
        )
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.gather(*senders)
        google.fcm_delay_s = 0.0
    sent = by_message(google, token)
    assert {len(requests) for requests in sent.values()} == {1}
    assert google.fcm_overlap == 1
    assert {r.state for r in await messages(sessionmaker, ids)} == {"sent"}


async def test_messages_are_sent_with_no_transaction_open(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    database_url: str,
    channels: Channels,
) -> None:
    await register(client, world.responder, f"tok-{uuid.uuid4().hex}")
    ids = await queue(sessionmaker, world, 3) + await queue(sessionmaker, world, 2, route=Route.SMS)
    engine = create_engine(database_url)  # a pool of its own: in use only by this sender
    in_use = engine.pool.checkedout  # type: ignore[attr-defined]
    push, sms = Spy(channels.push, in_use), Spy(channels.sms, in_use)
    try:
        maker = create_sessionmaker(engine)
        while await send_due(maker, Channels(push=push, sms=sms)):
            pass
    finally:
        await engine.dispose()
    assert {r.state for r in await messages(sessionmaker, ids)} == {"sent"}
    assert push.seen and sms.seen
    assert push.seen + sms.seen == [0] * len(push.seen + sms.seen), "sent in a transaction"
