"""One live connection against a fake WebSocket and a fake hub: the races of issue 11,
made deterministic by holding a frame "on the wire" while the hub raises an alarm,
then letting the send complete a chosen number of loop turns later.

On Python 3.11, ``asyncio.wait_for`` returns the result of a send that completed in
the very turn its task was cancelled, swallowing the cancellation: the socket then
streamed on past a dropped batch (a silent gap) or past a revocation, and its
teardown waited forever. Whatever the timing, the socket must now close with
1011 / 4401 and send nothing after the alarm.
"""

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from api.live import LiveConnection
from core.errors import Unauthenticated
from core.principal import Principal, PrincipalKind
from core.security import create_access_token
from core.settings import Settings
from core.tenancy.models import Role
from dispatch.enums import IncidentState
from dispatch.visibility import IncidentFacts
from notifications.live.hub import Batch, LiveEvent, Subscription
from tests.factories import staff_token

ORG = uuid.uuid4()
OFFICER = uuid.uuid4()
TURNS = range(12)  # loop turns between the alarm and the send's completion


class FakeSocket:
    """Records every frame the server sends. The frame of event ``hold`` stays on
    the wire until ``wire`` is released; the client never sends anything."""

    def __init__(self, alarm: asyncio.Event, hold: int) -> None:
        self.alarm = alarm
        self.hold = hold
        self.wire: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.on_wire = asyncio.Event()
        self.frames: list[dict[str, Any]] = []
        self.sent = asyncio.Event()
        self.sent_after_alarm: list[dict[str, Any]] = []
        self.closed: list[tuple[int, str | None]] = []

    async def send_text(self, text: str) -> None:
        frame = json.loads(text)
        if self.alarm.is_set():
            self.sent_after_alarm.append(frame)
        self.frames.append(frame)
        self.sent.set()
        if frame["type"] == "event" and frame["id"] == self.hold:
            self.on_wire.set()
            await asyncio.shield(self.wire)  # a cancelled send leaves the wire as it is

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed.append((code, reason))

    async def receive_text(self) -> str:
        await asyncio.get_running_loop().create_future()  # a silent client
        raise AssertionError

    async def receive(self) -> dict[str, Any]:
        await asyncio.get_running_loop().create_future()
        raise AssertionError

    def event_ids(self) -> list[int]:
        return [f["id"] for f in self.frames if f["type"] == "event"]


class FakeHub:
    """No replay; the test hands batches to the subscription itself."""

    def __init__(self) -> None:
        self.subscribed = asyncio.Event()
        self.subscription: Subscription | None = None
        self.unsubscribed = False

    async def subscribe(self, subscription: Subscription) -> None:
        self.subscription = subscription
        self.subscribed.set()

    def unsubscribe(self, subscription: Subscription) -> None:
        self.unsubscribed = True

    async def latest_id(self, organization_id: uuid.UUID) -> int:
        return 0

    async def load(self, organization_id: uuid.UUID, after: int) -> Batch | None:
        return None


def batch(event_id: int) -> Batch:
    event = LiveEvent(ORG, event_id, None, "elder.location", {"n": event_id}, datetime.now(UTC))
    return Batch([event], {})


def connection(settings: Settings, ws: FakeSocket, hub: FakeHub, **extra: Any) -> LiveConnection:
    return LiveConnection(
        ws,  # type: ignore[arg-type]
        principal=Principal(PrincipalKind.OFFICER, ORG, user_id=OFFICER),
        token=staff_token(settings, OFFICER, Role.OFFICER, ORG),
        organization_id=ORG,
        hub=hub,  # type: ignore[arg-type]
        settings=settings.model_copy(update={"live_queue_batches": 1, "live_heartbeat_s": 3600.0}),
        sessionmaker=None,  # type: ignore[arg-type]
        **extra,
    )


async def wait_for_welcome(ws: FakeSocket) -> None:
    async with asyncio.timeout(2):
        await ws.sent.wait()
    assert ws.frames[0]["type"] == "welcome"


async def race(settings: Settings, alarm: str, turns: int) -> tuple[FakeSocket, Any]:
    """Event 1 on the wire; event 2 queued; then the alarm (event 3 dropped by a full
    queue, or the credentials revoked); the send of event 1 completes ``turns`` loop
    turns later; event 4 is offered afterwards. Returns the socket and run()'s result
    (None if run() did not return)."""
    hub = FakeHub()
    alarmed = asyncio.Event()
    ws = FakeSocket(alarmed, hold=1)
    live = asyncio.create_task(connection(settings, ws, hub).run(None))
    try:
        await wait_for_welcome(ws)
        subscription = hub.subscription
        assert subscription is not None
        subscription.deliver(batch(1))
        async with asyncio.timeout(2):
            await ws.on_wire.wait()
        subscription.deliver(batch(2))
        alarmed.set()
        if alarm == "overflow":
            subscription.deliver(batch(3))  # the queue (one batch) is full: dropped
            assert subscription.overflowed.is_set()
        else:
            subscription.revoked.set()  # what the hub does on a revocation signal
        for _ in range(turns):
            await asyncio.sleep(0)
        ws.wire.set_result(None)
        for _ in range(20):
            await asyncio.sleep(0)
        subscription.deliver(batch(4))
        done, _ = await asyncio.wait({live}, timeout=1)
        return ws, (live.result() if done else None)
    finally:
        live.cancel()
        await asyncio.wait({live}, timeout=2)


@pytest.mark.parametrize(("alarm", "code"), [("overflow", 1011), ("revoked", 4401)])
async def test_a_send_completing_as_the_alarm_lands_never_lets_the_socket_stream_on(
    settings: Settings, alarm: str, code: int
) -> None:
    for turns in TURNS:
        ws, result = await race(settings, alarm, turns)
        where = f"{alarm}, send completed {turns} turns after the alarm, events {ws.event_ids()}"
        assert result is not None, f"the socket never closed ({where})"
        assert result[0] == code, where
        # What the client got is a gapless prefix of what it may see, nothing past the alarm.
        assert ws.event_ids() == [1], where
        assert ws.sent_after_alarm == [], where
        assert ws.closed == [(code, result[1])], where


async def test_credentials_are_checked_again_when_the_hub_asks(settings: Settings) -> None:
    revoked = False

    async def reauthenticate() -> None:
        if revoked:
            raise Unauthenticated("revoked")

    hub = FakeHub()
    ws = FakeSocket(asyncio.Event(), hold=0)
    live = asyncio.create_task(
        connection(settings, ws, hub, reauthenticate=reauthenticate).run(None)
    )
    await wait_for_welcome(ws)
    assert hub.subscription is not None
    revoked = True
    hub.subscription.recheck.set()  # the hub's listener reconnected: signals may be lost
    async with asyncio.timeout(2):
        result = await live
    assert result[0] == 4401 and ws.closed == [(4401, "credentials revoked")]
    assert hub.unsubscribed


async def test_a_staff_token_closes_the_socket_when_it_expires(settings: Settings) -> None:
    token, _ = create_access_token(
        secret=settings.secret_key.get_secret_value(),
        user_id=OFFICER,
        role="officer",
        organization_id=ORG,
        ttl_s=1,
    )
    hub = FakeHub()
    ws = FakeSocket(asyncio.Event(), hold=0)
    live_connection = connection(settings, ws, hub)
    live_connection.token = token
    async with asyncio.timeout(5):
        result = await live_connection.run(None)
    assert result[0] == 4401 and ws.closed == [(4401, "token expired")]


async def test_a_responders_socket_is_not_woken_for_batches_it_cannot_see(
    settings: Settings,
) -> None:
    """Issue 17: under SOS load each page of the log went to every socket of the
    organization, and each responder's socket woke to filter out what was not theirs.
    The hub now asks first; a batch of someone else's incident never reaches the queue."""
    responder = uuid.uuid4()
    theirs, others = uuid.uuid4(), uuid.uuid4()
    facts = {
        incident: IncidentFacts(ORG, uuid.uuid4(), IncidentState.DISPATCHING, None, offered)
        for incident, offered in ((theirs, frozenset({responder})), (others, frozenset()))
    }

    def page(event_id: int, incident: uuid.UUID) -> Batch:
        at = datetime.now(UTC)
        return Batch([LiveEvent(ORG, event_id, incident, "incident.opened", {}, at)], facts)

    hub = FakeHub()
    ws = FakeSocket(asyncio.Event(), hold=-1)
    live = asyncio.create_task(
        LiveConnection(
            ws,  # type: ignore[arg-type]
            principal=Principal(PrincipalKind.RESPONDER, ORG, user_id=responder),
            token=staff_token(settings, responder, Role.RESPONDER, ORG),
            organization_id=ORG,
            hub=hub,  # type: ignore[arg-type]
            settings=settings.model_copy(update={"live_heartbeat_s": 3600.0}),
            sessionmaker=None,  # type: ignore[arg-type]
        ).run(None)
    )
    try:
        await wait_for_welcome(ws)
        subscription = hub.subscription
        assert subscription is not None
        subscription.deliver(page(1, others))
        assert subscription.queue.empty()
        ws.sent.clear()
        subscription.deliver(page(2, theirs))
        async with asyncio.timeout(2):
            await ws.sent.wait()
        assert ws.event_ids() == [2]
    finally:
        live.cancel()
        await asyncio.wait({live}, timeout=2)


def test_a_failing_filter_queues_the_batch_and_spares_the_other_sockets() -> None:
    """The hub asks each subscription in one pass over the organization's sockets; a
    filter that raises must not end that pass for the others."""

    def broken(batch: Batch) -> bool:
        raise KeyError("a fact missing")

    failing = Subscription(ORG, frozenset(), wants=broken)
    other = Subscription(ORG, frozenset(), wants=lambda batch: True)
    for subscription in (failing, other):
        subscription.deliver(batch(1))
    assert failing.queue.qsize() == 1 and other.queue.qsize() == 1
