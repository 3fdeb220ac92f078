"""The outbox sender: lanes that lease due messages, send them outside any
transaction, concurrently, and record the outcome.

One lane per route (push, SMS), each with its own claims, its own bound on
messages in flight and its own loop: a slow SMS gateway never delays a push.
A lane claims rows with a lease and commits (``notifications.outbox_claim``),
sends them with no transaction open, then records the results in a second
short transaction, only for rows whose lease is still its own. Both
transactions run in ``core.uow.in_transaction`` (retried after a deadlock).
Any number of senders may run, in any number of processes.

Delivery is at least once, and at most twice per crash: a sender killed (or
cut off from the database until its lease ends) after the provider accepted
a message but before the result was committed leaves the row pending with
its lease; when the lease expires (``PHIKAT_SENDER_LEASE_S``) another sender
claims it and sends it once more. Nothing is sent again before that, and a
deadlock while recording is retried, not resent. A send that runs out of its
lease without an answer is recorded as a transient failure and retried (the
provider may have accepted it: the same window). FCM's collapse key and the
offer id in the data make a repeated push harmless to the app. Transient
failures back off (Retry-After honoured, at least a minute for
QUOTA_EXCEEDED); after ``max_attempts`` the message fails and the officers
are told with a ``message.failed`` event.
"""

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import metrics
from core.db_errors import database_unavailable
from core.outage import Outage
from core.settings import Settings
from core.uow import in_transaction
from notifications.channels.base import Channel, Outcome
from notifications.channels.log import LogChannel
from notifications.messages import Route
from notifications.outbox import wake_on_commit
from notifications.outbox_claim import Claimed, Lease, claim, record

log = logging.getLogger("phikat.sender")

# The share of a lease a lane may spend sending; the rest is for recording.
SEND_SHARE = 0.8
FIRST_RECORD_PAUSE_S = 0.2
PROCESS = f"{socket.gethostname()}:{os.getpid()}"

Result = tuple[str, Outcome]  # (address, what its channel said)


@dataclass
class Channels:
    push: Channel
    sms: Channel
    # The 1669 centres' webhooks (their URLs are per organization, in the database).
    handoff: Channel = field(default_factory=lambda: LogChannel("handoff"))
    # Families on LINE (each organization's Official Account and token, in the database).
    line: Channel = field(default_factory=lambda: LogChannel("line"))

    def for_route(self, route: str) -> Channel:
        if route == Route.HANDOFF:
            return self.handoff
        if route == Route.LINE:
            return self.line
        return self.push if route == Route.PUSH else self.sms

    async def close(self) -> None:
        await self.push.close()
        await self.sms.close()
        await self.handoff.close()
        await self.line.close()


@dataclass(frozen=True)
class SenderOptions:
    """How a sender runs; ``from_settings`` reads the ``PHIKAT_SENDER_*`` settings."""

    poll_interval_s: float = 0.2
    lease_s: float = 30.0
    # Messages in flight at once per lane, and how many one claim takes.
    push_in_flight: int = 1000
    push_batch: int = 500
    sms_in_flight: int = 20
    sms_batch: int = 5
    max_attempts: int = 6

    @classmethod
    def from_settings(cls, settings: Settings) -> "SenderOptions":
        return cls(
            poll_interval_s=settings.sender_poll_s,
            lease_s=settings.sender_lease_s,
            push_in_flight=settings.sender_push_concurrency,
            push_batch=min(500, settings.sender_push_concurrency),
            sms_in_flight=settings.sender_sms_concurrency,
            sms_batch=min(5, settings.sender_sms_concurrency),
        )


class Lane:
    """Sends the messages of one route: claim (leased), send, record."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        channel: Channel,
        route: Route,
        *,
        owner: str,
        lease_s: float,
        batch: int,
        in_flight: int,
        max_attempts: int,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.channel = channel
        self.route = route
        self.owner = owner
        self.lease_s = lease_s
        self.batch = batch
        self.in_flight = in_flight
        self.max_attempts = max_attempts

    async def claim(self, limit: int) -> tuple[Lease, float]:
        """A lease on up to ``limit`` due rows, and when (loop time) it ends at the latest."""
        ends = asyncio.get_running_loop().time() + self.lease_s
        lease = await in_transaction(
            self.sessionmaker,
            partial(claim, route=self.route, owner=self.owner, lease_s=self.lease_s, limit=limit),
            what=f"outbox claim ({self.route})",
        )
        return lease, ends

    async def deliver(self, lease: Lease, ends: float) -> int:
        """Send a claimed lease's messages, then record what happened; returns how many."""
        results = await self._send(lease, ends - self.lease_s * (1 - SEND_SHARE))
        await self._record(lease, results, ends)
        return len(lease.rows)

    async def _send(self, lease: Lease, stop_at: float) -> dict[uuid.UUID, list[Result]]:
        # Every row gets a result, also one with no address (it fails).
        results: dict[uuid.UUID, list[Result]] = {row.id: [] for row in lease.rows}
        deliveries = []
        for row in lease.rows:
            # Its senders died mid-send until no attempt was left (one more is not made).
            if row.attempts > self.max_attempts:
                results[row.id].append(("", _abandoned(row)))
            else:
                deliveries += row.deliveries
        if not deliveries:
            return results
        failed: str | None = None  # why the whole batch failed, for the metrics
        try:
            async with asyncio.timeout_at(stop_at):
                outcomes = await self.channel.send(deliveries)
        except TimeoutError:
            failed, error = "timeout", f"no answer from {self.channel.name} within the lease"
            outcomes = [Outcome(ok=False, retry_after_s=0.0, error=error)] * len(deliveries)
        except Exception as exc:  # a channel reports refusals; this is a bug or a crash
            log.exception("the %s channel failed", self.channel.name)
            failed, error = "channel_error", f"{self.channel.name} failed: {type(exc).__name__}"
            outcomes = [Outcome(ok=False, retry_after_s=0.0, error=error)] * len(deliveries)
        for delivery, outcome in zip(deliveries, outcomes, strict=True):
            results[delivery.message_id].append((delivery.address, outcome))
            _count(self.channel.name, outcome, failed)
        return results

    async def _record(
        self, lease: Lease, results: dict[uuid.UUID, list[Result]], ends: float
    ) -> None:
        work = partial(
            record,
            lease_token=lease.token,
            channel=self.channel.name,
            results=results,
            max_attempts=self.max_attempts,
        )
        loop = asyncio.get_running_loop()
        pause = FIRST_RECORD_PAUSE_S
        while True:
            try:
                settled = await in_transaction(
                    self.sessionmaker, work, what=f"outbox record ({self.route})"
                )
            except Exception as exc:
                # The database is away: keep trying while the lease holds; after that the
                # rows are due again and another sender sends them (the crash window).
                if loop.time() + pause >= ends:
                    log.exception(
                        "could not record %d %s results before the lease ended; they will "
                        "be sent again",
                        len(results),
                        self.route,
                    )
                    return
                log.log(
                    logging.WARNING if pause == FIRST_RECORD_PAUSE_S else logging.DEBUG,
                    "recording %s results failed (%s); retrying while the lease holds",
                    self.route,
                    type(exc).__name__,
                    exc_info=not database_unavailable(exc),  # an outage is no defect
                )
                await asyncio.sleep(pause)
                pause = min(pause * 2, 2.0)
                continue
            if settled < len(results):
                log.warning(
                    "%d %s messages were claimed again by another sender after our lease "
                    "expired; their results are theirs to record",
                    len(results) - settled,
                    self.route,
                )
            return

    async def run(self, stop: asyncio.Event, *, poll_interval_s: float) -> None:
        """Claim, send and record until ``stop`` is set, then finish what is in flight."""
        wakeup = asyncio.Event()
        sending: dict[asyncio.Task[int], int] = {}
        outage = Outage(log, f"claiming {self.route} messages")
        with wake_on_commit(wakeup, self.route):
            while not stop.is_set():
                wakeup.clear()
                free = self.in_flight - sum(sending.values())
                limit = min(self.batch, free)
                claimed, pause_s = 0, poll_interval_s
                if limit > 0:
                    try:
                        lease, ends = await self.claim(limit)
                        outage.succeeded()
                    except Exception as exc:
                        pause_s = max(pause_s, outage.failed(exc))
                    else:
                        claimed = len(lease.rows)
                        if claimed:
                            task = asyncio.create_task(self.deliver(lease, ends))
                            sending[task] = claimed
                if claimed < limit or limit == 0:
                    # A settled lease makes room; claim again then only if room is what
                    # limited this claim (otherwise that claim would find nothing new:
                    # this process's commits wake us, other processes' rows the poll).
                    room_limited = limit < self.batch
                    await _pause(stop, wakeup, set(sending) if room_limited else set(), pause_s)
                _reap(sending)
            if sending:
                await asyncio.wait(set(sending))
                _reap(sending)


def _count(channel: str, outcome: Outcome, failed: str | None) -> None:
    if outcome.ok:
        metrics.MESSAGES_SENT.labels(channel).inc()
        return
    if failed is not None:
        reason = failed
    elif outcome.drop_address:
        reason = "invalid_address"
    elif outcome.retry_after_s is not None:
        reason = "retry"
    else:
        reason = "refused"
    metrics.MESSAGE_FAILURES.labels(channel, reason).inc()


def _abandoned(row: Claimed) -> Outcome:
    return Outcome(
        ok=False,
        error=f"no result after {row.attempts - 1} attempts: the sender stopped while sending",
    )


async def _pause(
    stop: asyncio.Event, wakeup: asyncio.Event, sending: set[asyncio.Task[int]], poll_s: float
) -> None:
    """Until stop, a commit that queued messages, one of ``sending`` settled, or the poll
    interval."""
    waiters = {asyncio.create_task(stop.wait()), asyncio.create_task(wakeup.wait())}
    await asyncio.wait(waiters | sending, timeout=poll_s, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waiters:
        waiter.cancel()


def _reap(sending: dict[asyncio.Task[int], int]) -> None:
    for task in [t for t in sending if t.done()]:
        del sending[task]
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("sending a leased batch failed", exc_info=exc)


def lanes(
    sessionmaker: async_sessionmaker[AsyncSession],
    channels: Channels,
    options: SenderOptions,
    *,
    owner: str | None = None,
) -> list[Lane]:
    """The push, SMS, 1669 hand-off and LINE lanes of one sender."""
    owner = owner or f"{PROCESS}:{uuid.uuid4().hex[:8]}"
    return [
        Lane(
            sessionmaker,
            channels.for_route(route),
            route,
            owner=owner,
            lease_s=options.lease_s,
            batch=batch,
            in_flight=in_flight,
            max_attempts=options.max_attempts,
        )
        for route, batch, in_flight in (
            (Route.PUSH, options.push_batch, options.push_in_flight),
            (Route.SMS, options.sms_batch, options.sms_in_flight),
            (Route.HANDOFF, options.sms_batch, options.sms_in_flight),
            (Route.LINE, options.sms_batch, options.sms_in_flight),
        )
    ]


async def send_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    channels: Channels,
    *,
    limit: int = 500,
    options: SenderOptions | None = None,
) -> int:
    """One claim, send and record per lane, one lane after the other (tests, benchmarks);
    returns how many messages were handled."""
    handled = 0
    for lane in lanes(sessionmaker, channels, options or SenderOptions()):
        lease, ends = await lane.claim(limit)
        if lease.rows:
            handled += await lane.deliver(lease, ends)
    return handled


async def run_sender(
    sessionmaker: async_sessionmaker[AsyncSession],
    channels: Channels,
    *,
    stop: asyncio.Event,
    poll_interval_s: float | None = None,
    options: SenderOptions | None = None,
) -> None:
    """Send until ``stop`` is set, each lane on its own; any number of senders may run."""
    options = options or SenderOptions()
    poll = poll_interval_s if poll_interval_s is not None else options.poll_interval_s
    log.info("outbox sender started (push: %s, sms: %s)", channels.push.name, channels.sms.name)
    await asyncio.gather(
        *(lane.run(stop, poll_interval_s=poll) for lane in lanes(sessionmaker, channels, options))
    )
