"""The live hub of one server process: committed events fanned out to its sockets.

PostgreSQL NOTIFY says "organization X has events up to id N"; the hub reads
every event after its cursor for X from the event log (ids commit in order, so
nothing is skipped), lets an injected ``enrich`` attach what the filters need
(one query per batch, not per socket), and hands the batch to each
subscription of X without waiting on any of them. A subscription whose queue
is full is marked overflowed and gets nothing more; its socket closes with
1011 and the client resumes with ``after``. Notifications lost while
disconnected are caught up on reconnect and by a slow periodic poll.
"""

import asyncio
import contextlib
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import DbTuning, libpq_conninfo
from core.db_errors import database_unavailable
from core.events.models import IncidentEvent
from core.outage import Outage
from core.signals import EVENTS_CHANNEL, REVOCATIONS_CHANNEL

log = logging.getLogger("phikat.live")


@dataclass(frozen=True)
class LiveEvent:
    organization_id: uuid.UUID
    id: int
    incident_id: uuid.UUID | None
    name: str
    data: dict[str, Any]
    at: datetime


@dataclass(frozen=True)
class Batch:
    events: list[LiveEvent]
    # Whatever ``enrich`` returned for these events (e.g. who may see each incident).
    context: Any
    # Frames that many sockets send alike (the officers'), encoded once per batch by the
    # first socket that sends one: event id -> the frame's text ("" for none).
    shared_texts: dict[int, str] = field(default_factory=dict)


_EVENTS_AFTER = (
    select(
        IncidentEvent.id,
        IncidentEvent.incident_id,
        IncidentEvent.name,
        IncidentEvent.data,
        IncidentEvent.created_at,
    )
    .where(IncidentEvent.organization_id == bindparam("org"), IncidentEvent.id > bindparam("after"))
    .order_by(IncidentEvent.id)
    .limit(bindparam("limit"))
)

Enrich = Callable[[AsyncSession, list[LiveEvent]], Awaitable[Any]]


@dataclass(eq=False)
class Subscription:
    """One socket's place in the hub: a bounded queue of batches and three signals.

    ``overflowed`` and ``revoked`` end the subscription: once either is set,
    nothing more is queued (after a dropped batch, anything queued would follow
    a gap). The socket reads them before every frame it sends. ``recheck`` asks
    the socket to check its credentials again: revocations notified while the
    hub was not listening are lost.
    """

    organization_id: uuid.UUID
    # Revocation keys (see core.signals) that end this subscription.
    keys: frozenset[str]
    max_batches: int = 1000
    # Whether the socket would send anything of a batch; None: it sees everything. A
    # responder sees a few incidents of the many in their organization: asked here,
    # their socket is not woken for every batch only to find nothing in it.
    wants: Callable[[Batch], bool] | None = None
    queue: asyncio.Queue[Batch] = field(init=False)
    overflowed: asyncio.Event = field(default_factory=asyncio.Event)
    revoked: asyncio.Event = field(default_factory=asyncio.Event)
    recheck: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(maxsize=self.max_batches)

    @property
    def ended(self) -> bool:
        return self.overflowed.is_set() or self.revoked.is_set()

    def deliver(self, batch: Batch) -> None:
        if self.ended or not self._wanted(batch):
            return
        try:
            self.queue.put_nowait(batch)
        except asyncio.QueueFull:
            self.overflowed.set()

    def revoke(self) -> None:
        self.revoked.set()

    def _wanted(self, batch: Batch) -> bool:
        if self.wants is None:
            return True
        try:
            return self.wants(batch)
        except Exception:
            # The hub delivers to every socket of the organization in one pass: one
            # socket's failing filter must not stop the others'. Its socket decides.
            log.exception("a live subscription's filter failed; the batch is queued")
            return True


class LiveHub:
    def __init__(
        self,
        *,
        database_url: str,
        sessionmaker: async_sessionmaker[AsyncSession],
        enrich: Enrich,
        poll_interval_s: float = 5.0,
        batch_limit: int = 500,
        tuning: DbTuning | None = None,
    ) -> None:
        # With TCP keepalives and a user timeout: after a failover a half-open LISTEN
        # connection is noticed in seconds, not left to the slow poll.
        self._conninfo = libpq_conninfo(database_url, tuning)
        self._sessionmaker = sessionmaker
        self._enrich = enrich
        self._poll_interval_s = poll_interval_s
        self._batch_limit = batch_limit
        self._subscriptions: dict[uuid.UUID, set[Subscription]] = defaultdict(set)
        self._cursors: dict[uuid.UUID, int] = {}
        self._locks: dict[uuid.UUID, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._tasks: list[asyncio.Task[None]] = []
        self._dirty: set[uuid.UUID] = set()
        self._catchers: dict[uuid.UUID, asyncio.Task[None]] = {}
        self.listening = asyncio.Event()

    # --- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen_forever(), name="live-listen"),
            asyncio.create_task(self._poll_forever(), name="live-poll"),
        ]

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._catchers.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks = []
        self._catchers = {}

    # --- subscriptions --------------------------------------------------------

    async def subscribe(self, subscription: Subscription) -> None:
        org = subscription.organization_id
        async with self._locks[org]:
            if org not in self._cursors:
                self._cursors[org] = await self.latest_id(org)
            self._subscriptions[org].add(subscription)

    def unsubscribe(self, subscription: Subscription) -> None:
        subs = self._subscriptions.get(subscription.organization_id)
        if subs is not None:
            subs.discard(subscription)

    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscriptions.values())

    # --- reading the log --------------------------------------------------------

    async def latest_id(self, organization_id: uuid.UUID) -> int:
        async with self._sessionmaker() as session:
            latest = await session.scalar(
                select(func.max(IncidentEvent.id)).where(
                    IncidentEvent.organization_id == organization_id
                )
            )
        return int(latest or 0)

    async def load(self, organization_id: uuid.UUID, after: int) -> Batch | None:
        """The next events after ``after`` (at most ``batch_limit``), enriched; None if none."""
        async with self._sessionmaker() as session:
            # Plain rows on the session's connection: the log is only read here, and the
            # ORM's entities and per-call setup cost more than the query (it runs on
            # every server for every notification).
            connection = await session.connection()
            rows = await connection.execute(
                _EVENTS_AFTER, {"org": organization_id, "after": after, "limit": self._batch_limit}
            )
            events = [LiveEvent(organization_id, *row) for row in rows]
            if not events:
                return None
            return Batch(events, await self._enrich(session, events))

    async def catch_up(self, organization_id: uuid.UUID) -> None:
        """Deliver everything after the hub's cursor to the organization's subscriptions."""
        async with self._locks[organization_id]:
            if not self._subscriptions.get(organization_id):
                self._cursors.pop(organization_id, None)  # nobody listens: forget the cursor
                return
            while True:
                batch = await self.load(organization_id, self._cursors[organization_id])
                if batch is None:
                    return
                for subscription in list(self._subscriptions[organization_id]):
                    subscription.deliver(batch)
                self._cursors[organization_id] = batch.events[-1].id
                if len(batch.events) < self._batch_limit:
                    # The end of the log as this read saw it; a later commit notifies
                    # again (and marks the organization dirty), so no empty read to
                    # confirm it: that was every other statement of the hub.
                    return

    # --- signals ----------------------------------------------------------------

    def _revoke(self, key: str) -> None:
        for subs in self._subscriptions.values():
            for subscription in subs:
                if key in subscription.keys:
                    subscription.revoke()

    def _orgs(self) -> Iterable[uuid.UUID]:
        return [org for org, subs in self._subscriptions.items() if subs]

    async def _listen_forever(self) -> None:
        outage = Outage(log, "the live listener")
        while True:
            delay = 0.5
            try:
                conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {EVENTS_CHANNEL}")
                    await conn.execute(f"LISTEN {REVOCATIONS_CHANNEL}")
                    self.listening.set()
                    outage.succeeded()
                    # Anything committed while we were not listening:
                    for org in self._orgs():
                        self._kick(org)
                    # Revocations notified meanwhile are lost: every socket checks again.
                    for subs in self._subscriptions.values():
                        for subscription in subs:
                            subscription.recheck.set()
                    async for note in conn.notifies():
                        await self._on_notify(note.channel, note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Once per outage, not a traceback per reconnection attempt.
                delay = outage.failed(exc)
            self.listening.clear()
            await asyncio.sleep(delay)

    async def _on_notify(self, channel: str, payload: str) -> None:
        if channel == REVOCATIONS_CHANNEL:
            self._revoke(payload)
            return
        org_text, _, last_text = payload.partition(":")
        with contextlib.suppress(ValueError):
            org = uuid.UUID(org_text)
            if not self._subscriptions.get(org):
                return
            if last_text and int(last_text) <= self._cursors.get(org, -1):
                return  # an earlier catch-up already read up to it
            self._kick(org)

    def _kick(self, org: uuid.UUID) -> None:
        """Catch the organization up in the background. The listener must go straight
        back to reading notifications: ones that arrive while it is busy elsewhere can be
        lost, and would then wait for the slow poll."""
        self._dirty.add(org)
        task = self._catchers.get(org)
        if task is None or task.done():
            self._catchers[org] = asyncio.create_task(self._catch_up_while_dirty(org))

    async def _catch_up_while_dirty(self, org: uuid.UUID) -> None:
        while org in self._dirty:
            self._dirty.discard(org)
            try:
                await self.catch_up(org)
            except Exception as exc:
                # The poll catches up later; a database outage is the poll's to report.
                if not database_unavailable(exc):
                    log.exception("live catch-up failed for %s", org)

    async def _poll_forever(self) -> None:
        outage = Outage(log, "the live poll")
        while True:
            await asyncio.sleep(self._poll_interval_s)
            try:
                for org in self._orgs():
                    await self.catch_up(org)
                outage.succeeded()
            except Exception as exc:
                outage.failed(exc)
