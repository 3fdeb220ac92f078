"""GET /v1/live: the live channel over WebSocket.

hello → welcome → replay of everything after ``after`` this principal may see
→ live events, in id order, never twice. Every socket either gets every event
it may see, in order, or is closed: 1011 when it fell behind (resume with
``after``), 4401 when its credentials were revoked or expired.

One task streams (replay, then the hub's queue), one reads the client's frames
(receipts, pongs), one sends heartbeats, and watchers wait for the hub's
alarms and the token's expiry. Each of them may decide to close; the decision
is final (``notifications.live.lifecycle``) and checked before every frame, so
nothing is sent after it, whatever the timing of cancellations.
"""

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.deps import principal_from_token
from core import metrics
from core.db_errors import database_unavailable
from core.errors import DomainError, Unauthenticated
from core.principal import Principal, PrincipalKind
from core.security import DEVICE_TOKEN_PREFIX, decode_access_token
from core.settings import Settings
from core.signals import device_key, user_key
from core.types import format_utc, utcnow
from core.uow import in_transaction
from dispatch.enums import AccessKind
from dispatch.locations import mark_received
from dispatch.medical_access import carries_medical, record_access
from dispatch.queries.facts import load_facts
from dispatch.visibility import IncidentFacts, event_view, viewer_of
from notifications.live.hub import Batch, LiveEvent, LiveHub, Subscription
from notifications.live.lifecycle import CloseDecision, Lifecycle

log = logging.getLogger("phikat.live")
router = APIRouter()

UNAUTHENTICATED = 4401
TRY_AGAIN_LATER = 1013
AFTER_BEYOND_LAST = 4400
SLOW_CONSUMER = 1011
SERVER_ERROR = 1011
SERVICE_RESTART = 1012
CLIENT_LEFT = 1001
TOO_SLOW = "too slow: reconnect with after"
REVOKED = "credentials revoked"

HELLO_TIMEOUT_S = 10.0
# Every frame a client sends is small (a hello carries a token of at most 4 KiB).
# Anything larger is refused before it is parsed, and before authentication.
MAX_FRAME_CHARS = 8192
# Teardown is bounded: tasks get this long to stop once cancelled, medical-access
# log writes this long to commit, the close frame this long to leave (a stalled
# client gets it once it reads again; uvicorn's keepalive drops one that never does).
TASK_STOP_S = 5.0
AUDIT_GRACE_S = 10.0
CLOSE_TIMEOUT_S = 60.0
YIELD_EVERY = 16  # event frames a socket sends before it lets other tasks run


class BadHello(Exception):
    pass


class BadFrame(Exception):
    pass


class Closing(Exception):
    """Raised in a task that tried to send after the close was decided: it just ends."""


@dataclass(frozen=True)
class Hello:
    token: str
    after: int | None
    organization_id: uuid.UUID | None


async def read_frame(ws: WebSocket) -> str:
    """The client's next text frame, refused unparsed if it is binary or too large."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    text = message.get("text")
    if not isinstance(text, str):
        raise BadFrame("frames must be JSON text")
    if len(text) > MAX_FRAME_CHARS:
        raise BadFrame(f"frames are at most {MAX_FRAME_CHARS} characters")
    return text


def parse_hello(raw: str) -> Hello:
    try:
        hello = json.loads(raw)
    except ValueError as exc:
        raise BadHello("the first frame must be JSON") from exc
    if not isinstance(hello, dict) or hello.get("type") != "hello":
        raise BadHello('the first frame must be {"type": "hello", "token": ..., "after": ...}')
    token, after, org = hello.get("token"), hello.get("after"), hello.get("organization_id")
    if not isinstance(token, str) or not token or len(token) > 4096:
        raise BadHello("hello needs a token")
    if after is not None and (isinstance(after, bool) or not isinstance(after, int) or after < 0):
        raise BadHello("after must be a non-negative event id or null")
    try:
        organization_id = uuid.UUID(org) if org is not None else None
    except (ValueError, TypeError, AttributeError) as exc:
        raise BadHello("organization_id must be a UUID") from exc
    return Hello(token, after, organization_id)


async def enrich(session: AsyncSession, events: list[LiveEvent]) -> dict[uuid.UUID, IncidentFacts]:
    """Once per batch and process: who may see each incident in it."""
    return await load_facts(session, {e.incident_id for e in events if e.incident_id})


def visible_data(
    principal: Principal, facts: dict[uuid.UUID, IncidentFacts], event: LiveEvent
) -> dict[str, Any] | None:
    if event.incident_id is None or event.incident_id not in facts:
        officer = principal.kind in (PrincipalKind.OFFICER, PrincipalKind.ADMIN)
        return event.data if officer else None
    viewer = viewer_of(principal, facts[event.incident_id])
    if viewer is None:
        return None
    return event_view(viewer, principal, event.name, event.data)


def event_frame(event: LiveEvent, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "event",
        "id": event.id,
        "event": event.name,
        "incident_id": str(event.incident_id) if event.incident_id else None,
        "at": format_utc(event.at),
        "data": data,
    }


Reauthenticate = Callable[[], Awaitable[object]]


class LiveConnection:
    """One client's socket after a good hello, from subscription to close frame."""

    def __init__(
        self,
        ws: WebSocket,
        *,
        principal: Principal,
        token: str,
        organization_id: uuid.UUID,
        hub: LiveHub,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        reauthenticate: Reauthenticate | None = None,
    ) -> None:
        self.ws = ws
        self.principal = principal
        self.token = token
        self.hub = hub
        self.settings = settings
        self.sessionmaker = sessionmaker
        # Raises Unauthenticated if the credentials no longer hold.
        self.reauthenticate = reauthenticate
        keys = {user_key(principal.user_id)} if principal.user_id else set()
        if principal.device_token_id:
            keys.add(device_key(principal.device_token_id))
        # Officers and the admin see every event of the organization, alike.
        self.staff = principal.kind in (PrincipalKind.OFFICER, PrincipalKind.ADMIN)
        self.subscription = Subscription(
            organization_id,
            frozenset(keys),
            max_batches=settings.live_queue_batches,
            wants=None if self.staff else self._sees_any,
        )
        self.life = Lifecycle()
        self.cursor = 0
        self._send_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._audits: set[asyncio.Task[None]] = set()

    # --- the lifecycle ------------------------------------------------------------

    async def run(self, after: int | None) -> CloseDecision:
        """Serve the socket until a close is decided, then tear down (bounded) and send
        the close frame; returns the decision (code, reason)."""
        await self.hub.subscribe(self.subscription)
        stopping = False
        try:
            self._spawn(self._on_alarm(self.subscription.revoked, UNAUTHENTICATED, REVOKED))
            self._spawn(self._on_alarm(self.subscription.overflowed, SLOW_CONSUMER, TOO_SLOW))
            self._spawn(self._recheck())
            self._spawn(self._expiry())
            self._spawn(self._stream(after))
            await self.life.decided.wait()
        except asyncio.CancelledError:
            # The server is stopping: uvicorn closes the socket itself (1012).
            stopping = True
            self.life.close(SERVICE_RESTART, "server restarting: reconnect")
            raise
        finally:
            # First the hub stops feeding us, then every task ends, then the close frame.
            self.hub.unsubscribe(self.subscription)
            await self._stop(self._tasks, cancel=True, within=TASK_STOP_S, what="task")
            await self._stop(self._audits, cancel=False, within=AUDIT_GRACE_S, what="audit")
            await self._send_close(frame=not stopping)
        assert self.life.decision is not None
        return self.life.decision

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        if not self.life.is_open:
            work.close()
            return
        task = asyncio.create_task(self._guarded(work))
        self._tasks.add(task)

    async def _guarded(self, work: Coroutine[Any, Any, None]) -> None:
        """Run one of the socket's tasks; however it ends, the socket learns of it."""
        try:
            await work
        except Closing:
            pass
        except WebSocketDisconnect:
            self.life.close(CLIENT_LEFT, "the client left", by_client=True)
        except Exception as exc:
            if database_unavailable(exc):  # an outage, not a defect: no traceback
                log.warning("live socket of %s: database unavailable", self.principal.kind.value)
                self.life.close(TRY_AGAIN_LATER, "database unavailable: reconnect with after")
                return
            log.exception("live socket of %s failed", self.principal.kind.value)
            self.life.close(SERVER_ERROR, "server error: reconnect with after")

    @staticmethod
    async def _stop(
        tasks: set[asyncio.Task[None]], *, cancel: bool, within: float, what: str
    ) -> None:
        if not tasks:
            return
        if cancel:
            for task in tasks:
                task.cancel()
        done, pending = await asyncio.wait(tasks, timeout=within)
        for task in pending:
            log.error("a live %s did not stop within %.0f s; abandoned", what, within)
            task.cancel()
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error("a live %s failed", what, exc_info=task.exception())

    async def _send_close(self, *, frame: bool) -> None:
        decision = self.life.decision
        try:
            if frame and decision is not None and not decision.by_client:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(CLOSE_TIMEOUT_S):
                        await self.ws.close(decision.code, decision.reason)
        finally:
            self.life.closed()

    # --- sending: every frame passes the gate -------------------------------------

    def _admit(self) -> bool:
        """May a frame go out now? Reads the hub's alarms at this very moment, so a
        frame is never sent after a revocation or a dropped batch was seen."""
        if self.subscription.revoked.is_set():
            self.life.close(UNAUTHENTICATED, REVOKED)
        elif self.subscription.overflowed.is_set():
            self.life.close(SLOW_CONSUMER, TOO_SLOW)
        return self.life.is_open

    async def send(self, frame: dict[str, Any]) -> None:
        await self.send_text(json.dumps(frame, ensure_ascii=False, default=str))

    async def send_text(self, text: str) -> None:
        async with self._send_lock:
            if not self._admit():
                raise Closing
            try:
                async with asyncio.timeout(self.settings.live_send_timeout_s):
                    await self.ws.send_text(text)
            except TimeoutError as exc:
                self.life.close(SLOW_CONSUMER, TOO_SLOW)
                raise Closing from exc

    async def send_batch(self, batch: Batch) -> None:
        for n, event in enumerate(batch.events, start=1):
            if event.id <= self.cursor:
                continue  # already sent by the replay
            data, text = self._frame(batch, event)
            if data is not None:
                await self.send_text(text)
                if carries_medical(event.name, data):
                    self._audit(batch.context, event)
            self.cursor = event.id
            if n % YIELD_EVERY == 0:
                # A send to a reader that keeps up never suspends: let the other
                # sockets, the hub and the HTTP requests have their turn.
                await asyncio.sleep(0)

    def _sees_any(self, batch: Batch) -> bool:
        return any(visible_data(self.principal, batch.context, e) is not None for e in batch.events)

    def _frame(self, batch: Batch, event: LiveEvent) -> tuple[dict[str, Any] | None, str]:
        """What this socket may see of the event, and its frame's text. Every officer of
        the organization (and the admin) sees the same data: their frame is encoded once
        per batch, not once per socket (a fan-out to 1,000 officers encoded it 1,000
        times)."""
        data = visible_data(self.principal, batch.context, event)
        if data is None:
            return None, ""
        if not self.staff:
            return data, json.dumps(event_frame(event, data), ensure_ascii=False, default=str)
        text = batch.shared_texts.get(event.id)
        if text is None:
            text = json.dumps(event_frame(event, data), ensure_ascii=False, default=str)
            batch.shared_texts[event.id] = text
        return data, text

    # --- the tasks ------------------------------------------------------------------

    async def _stream(self, after: int | None) -> None:
        """Welcome, replay from the log, then the hub's batches, in id order."""
        org = self.subscription.organization_id
        if self.reauthenticate is not None:
            # Subscribed first: a revocation is now either seen here or signalled.
            await self._check_credentials()
        latest = await self.hub.latest_id(org)
        if after is not None and after > latest:
            # No client can hold a cursor past the log: resuming from it would skip events.
            await self.send(
                {
                    "type": "error",
                    "detail": f"after {after} is beyond the last event id {latest}: "
                    "reload and reconnect with after null or at most last_event_id",
                    "last_event_id": latest,
                }
            )
            self.life.close(AFTER_BEYOND_LAST, "after is beyond the last event id")
            return
        self.cursor = latest if after is None else after
        await self.send(
            {"type": "welcome", "principal": self.principal.public(), "last_event_id": latest}
        )
        self._spawn(self._receive())
        self._spawn(self._heartbeat())
        while (batch := await self.hub.load(org, self.cursor)) is not None:
            await self.send_batch(batch)
        while True:
            await self.send_batch(await self.subscription.queue.get())

    async def _on_alarm(self, alarm: asyncio.Event, code: int, reason: str) -> None:
        await alarm.wait()
        self.life.close(code, reason)

    async def _check_credentials(self) -> None:
        assert self.reauthenticate is not None
        try:
            await self.reauthenticate()
        except Unauthenticated:
            self.life.close(UNAUTHENTICATED, REVOKED)

    async def _recheck(self) -> None:
        while self.reauthenticate is not None:
            await self.subscription.recheck.wait()
            self.subscription.recheck.clear()
            await self._check_credentials()

    async def _expiry(self) -> None:
        """A staff token ends the socket the moment it expires (device tokens do not)."""
        if self.token.startswith(DEVICE_TOKEN_PREFIX):
            return
        try:
            claims = decode_access_token(
                self.token, secret=self.settings.secret_key.get_secret_value()
            )
            await asyncio.sleep(max((claims.expires_at - utcnow()).total_seconds(), 0))
        except Unauthenticated:
            pass
        self.life.close(UNAUTHENTICATED, "token expired")

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.settings.live_heartbeat_s)
            await self.send({"type": "ping", "at": format_utc(utcnow())})

    async def _receive(self) -> None:
        while True:
            try:
                frame = json.loads(await read_frame(self.ws))
            except BadFrame as exc:
                await self.send({"type": "error", "detail": str(exc)})
                continue
            except ValueError:
                await self.send({"type": "error", "detail": "frames must be JSON"})
                continue
            kind = frame.get("type") if isinstance(frame, dict) else None
            if kind == "receipt":
                await self._receipt(frame.get("offer_id"))
            elif kind != "pong":
                await self.send({"type": "error", "detail": f"unknown frame type {kind!r}"})

    async def _receipt(self, offer_id: Any) -> None:
        responder_id = self.principal.user_id
        if self.principal.kind is not PrincipalKind.RESPONDER or responder_id is None:
            await self.send({"type": "error", "detail": "receipts are for responders"})
            return
        try:
            offer = uuid.UUID(str(offer_id))
        except ValueError:
            await self.send({"type": "error", "detail": "no such offer"})
            return

        async def receipt(session: AsyncSession) -> None:
            await mark_received(session, offer_id=offer, responder_id=responder_id, via="live")

        try:
            await in_transaction(self.sessionmaker, receipt, what="live receipt")
        except DomainError:
            await self.send({"type": "error", "detail": "no such offer"})

    # --- the medical-access log -------------------------------------------------------

    def _audit(self, facts: dict[uuid.UUID, IncidentFacts], event: LiveEvent) -> None:
        """The escalation dossier (medical facts, contacts) reached this socket: logged
        like a read over HTTP, after the send (a failing log never holds back a dossier),
        in a task of its own that the socket's teardown waits for but never cancels."""
        fact = facts.get(event.incident_id) if event.incident_id else None
        if fact is None or fact.elder_id is None:
            return
        task = asyncio.create_task(self._log_medical_read(event, fact.elder_id))
        self._audits.add(task)
        task.add_done_callback(self._audits.discard)

    async def _log_medical_read(self, event: LiveEvent, elder_id: uuid.UUID) -> None:
        async def log_read(session: AsyncSession) -> None:
            record_access(
                session,
                principal=self.principal,
                organization_id=event.organization_id,
                elder_id=elder_id,
                incident_id=event.incident_id,
                what=AccessKind.LIVE,
            )

        try:
            await in_transaction(self.sessionmaker, log_read, what="live medical-access log")
        except Exception as exc:
            if not database_unavailable(exc):
                log.exception("could not log the medical read of event %s", event.id)
                return
            # An outage, not a defect: said once per read, without a traceback per socket.
            log.warning(
                "could not log the medical read of event %s: database unavailable (%s)",
                event.id,
                type(exc).__name__,
            )


@router.websocket("/v1/live")
async def live(ws: WebSocket) -> None:
    await ws.accept()
    app = ws.app
    settings: Settings = app.state.settings
    sessionmaker: async_sessionmaker[AsyncSession] = app.state.sessionmaker

    async def authenticate(token: str) -> Principal:
        async with sessionmaker() as session:
            return await principal_from_token(session, settings, token)

    try:
        async with asyncio.timeout(HELLO_TIMEOUT_S):
            raw = await read_frame(ws)
        hello = parse_hello(raw)
        try:
            watch = getattr(app.state, "database_watch", None)
            if watch is not None and not watch.available:
                raise TimeoutError("the database watch says it is away")
            async with asyncio.timeout(HELLO_TIMEOUT_S):
                principal = await authenticate(hello.token)
        except Exception as exc:
            if not (isinstance(exc, TimeoutError) or database_unavailable(exc)):
                raise
            # Not the client's fault: "try again later", never "bad credentials".
            log.warning("live hello: database unavailable (%s)", type(exc).__name__)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(HELLO_TIMEOUT_S):
                    await ws.close(TRY_AGAIN_LATER, "database unavailable: reconnect with after")
            return
        organization_id = principal.organization_id or hello.organization_id
        if organization_id is None:
            raise BadHello("the admin must name an organization_id in hello")
        if not principal.is_admin and hello.organization_id not in (None, organization_id):
            raise BadHello("this token belongs to another organization")
    except (BadHello, BadFrame, Unauthenticated, TimeoutError) as exc:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(HELLO_TIMEOUT_S):
                await ws.close(UNAUTHENTICATED, str(exc)[:120] or "unauthenticated")
        return
    except WebSocketDisconnect:
        return
    connection = LiveConnection(
        ws,
        principal=principal,
        token=hello.token,
        organization_id=organization_id,
        hub=app.state.hub,
        settings=settings,
        sessionmaker=sessionmaker,
        reauthenticate=lambda: authenticate(hello.token),
    )
    metrics.LIVE_SOCKETS.inc()
    try:
        decision = await connection.run(hello.after)
    finally:
        metrics.LIVE_SOCKETS.dec()
    if decision.code == SLOW_CONSUMER:
        metrics.LIVE_DROPPED.inc()
    if not decision.by_client:
        log.info(
            "closed live socket of %s: %s %s",
            principal.kind.value,
            decision.code,
            decision.reason,
        )
