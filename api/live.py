"""GET /v1/live: the live channel over WebSocket.

hello → welcome → replay of everything after ``after`` this principal may see
→ live events, in id order, never twice. One task pumps this socket's queue,
one reads the client's frames (receipts, pongs), one sends heartbeats; a
socket that falls behind is closed with 1011 and resumes with ``after``.
"""

import asyncio
import contextlib
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.deps import principal_from_token
from core.errors import DomainError, Unauthenticated
from core.principal import Principal, PrincipalKind
from core.security import DEVICE_TOKEN_PREFIX, decode_access_token
from core.settings import Settings
from core.signals import device_key, user_key
from core.types import format_utc, utcnow
from core.uow import unit_of_work
from dispatch.enums import AccessKind
from dispatch.incidents import load_facts
from dispatch.locations import mark_received
from dispatch.privacy.medical_access import carries_medical, record_access
from dispatch.visibility import IncidentFacts, event_view, viewer_of
from notifications.live.hub import Batch, LiveEvent, LiveHub, Subscription

log = logging.getLogger("phikat.live")
router = APIRouter()

UNAUTHENTICATED = 4401
SLOW_CONSUMER = 1011
HELLO_TIMEOUT_S = 10.0


class BadHello(Exception):
    pass


class SlowConsumer(Exception):
    pass


@dataclass(frozen=True)
class Hello:
    token: str
    after: int | None
    organization_id: uuid.UUID | None


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


class LiveConnection:
    """One client's socket after a good hello."""

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
    ) -> None:
        self.ws = ws
        self.principal = principal
        self.token = token
        self.hub = hub
        self.settings = settings
        self.sessionmaker = sessionmaker
        keys = {user_key(principal.user_id)} if principal.user_id else set()
        if principal.device_token_id:
            keys.add(device_key(principal.device_token_id))
        self.subscription = Subscription(
            organization_id, frozenset(keys), max_batches=settings.live_queue_batches
        )
        self.cursor = 0
        self._send_lock = asyncio.Lock()

    async def send(self, frame: dict[str, Any]) -> None:
        text = json.dumps(frame, ensure_ascii=False, default=str)
        async with self._send_lock:
            try:
                await asyncio.wait_for(self.ws.send_text(text), self.settings.live_send_timeout_s)
            except TimeoutError as exc:
                raise SlowConsumer from exc

    async def send_batch(self, batch: Batch) -> None:
        for event in batch.events:
            if event.id <= self.cursor:
                continue  # already sent by the replay
            data = visible_data(self.principal, batch.context, event)
            if data is not None:
                await self.send(event_frame(event, data))
                if carries_medical(event.name, data):
                    await self._log_medical_read(batch.context, event)
            self.cursor = event.id

    async def _log_medical_read(
        self, facts: dict[uuid.UUID, IncidentFacts], event: LiveEvent
    ) -> None:
        """The escalation dossier (medical facts, contacts) reached this socket: logged
        like a read over HTTP. After the send: a failing log never holds back a dossier."""
        fact = facts.get(event.incident_id) if event.incident_id else None
        if fact is None or fact.elder_id is None:
            return
        try:
            async with unit_of_work(self.sessionmaker) as session:
                record_access(
                    session,
                    principal=self.principal,
                    organization_id=event.organization_id,
                    elder_id=fact.elder_id,
                    incident_id=event.incident_id,
                    what=AccessKind.LIVE,
                )
        except Exception:
            log.exception("could not log the medical read of event %s", event.id)

    async def run(self, after: int | None) -> tuple[int, str]:
        """Serve the socket until it must close; returns the close code and reason."""
        org = self.subscription.organization_id
        # Subscribe first, so nothing committed during the replay can fall between the two.
        await self.hub.subscribe(self.subscription)
        try:
            latest = await self.hub.latest_id(org)
            self.cursor = latest if after is None else after
            await self.send(
                {"type": "welcome", "principal": self.principal.public(), "last_event_id": latest}
            )
            while (batch := await self.hub.load(org, self.cursor)) is not None:
                await self.send_batch(batch)
            return await self._live()
        except SlowConsumer:
            return SLOW_CONSUMER, "too slow: reconnect with after"
        finally:
            self.hub.unsubscribe(self.subscription)

    async def _live(self) -> tuple[int, str]:
        tasks = {
            asyncio.create_task(self._pump()),
            asyncio.create_task(self._receive()),
            asyncio.create_task(self._heartbeat()),
            asyncio.create_task(
                self._watch(
                    self.subscription.overflowed, SLOW_CONSUMER, "too slow: reconnect with after"
                )
            ),
            asyncio.create_task(
                self._watch(self.subscription.revoked, UNAUTHENTICATED, "credentials revoked")
            ),
        }
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        # Several tasks may end together (the client left while we were sending):
        # look at every one, so no exception goes unretrieved.
        errors = [t.exception() for t in done if t.exception() is not None]
        if any(isinstance(e, WebSocketDisconnect) for e in errors):
            raise WebSocketDisconnect
        if any(isinstance(e, SlowConsumer) for e in errors):
            return SLOW_CONSUMER, "too slow: reconnect with after"
        if errors:
            log.error("live socket failed", exc_info=errors[0])
            return 1011, "server error: reconnect with after"
        for task in done:
            outcome = task.result()
            if outcome is not None:
                return outcome
        return 1000, "closed"

    async def _pump(self) -> None:
        while True:
            await self.send_batch(await self.subscription.queue.get())

    async def _watch(self, alarm: asyncio.Event, code: int, reason: str) -> tuple[int, str]:
        await alarm.wait()
        return code, reason

    async def _heartbeat(self) -> tuple[int, str]:
        while True:
            await asyncio.sleep(self.settings.live_heartbeat_s)
            if not self.token.startswith(DEVICE_TOKEN_PREFIX):
                try:
                    decode_access_token(
                        self.token, secret=self.settings.secret_key.get_secret_value()
                    )
                except Unauthenticated:
                    return UNAUTHENTICATED, "token expired"
            await self.send({"type": "ping", "at": format_utc(utcnow())})

    async def _receive(self) -> None:
        while True:
            raw = await self.ws.receive_text()
            try:
                frame = json.loads(raw)
            except ValueError:
                await self.send({"type": "error", "detail": "frames must be JSON"})
                continue
            kind = frame.get("type") if isinstance(frame, dict) else None
            if kind == "receipt":
                await self._receipt(frame.get("offer_id"))
            elif kind != "pong":
                await self.send({"type": "error", "detail": f"unknown frame type {kind!r}"})

    async def _receipt(self, offer_id: Any) -> None:
        if self.principal.kind is not PrincipalKind.RESPONDER or self.principal.user_id is None:
            await self.send({"type": "error", "detail": "receipts are for responders"})
            return
        try:
            async with unit_of_work(self.sessionmaker) as session:
                await mark_received(
                    session,
                    offer_id=uuid.UUID(str(offer_id)),
                    responder_id=self.principal.user_id,
                    via="live",
                )
        except (ValueError, DomainError):
            await self.send({"type": "error", "detail": "no such offer"})


@router.websocket("/v1/live")
async def live(ws: WebSocket) -> None:
    await ws.accept()
    app = ws.app
    settings: Settings = app.state.settings
    try:
        hello = parse_hello(await asyncio.wait_for(ws.receive_text(), HELLO_TIMEOUT_S))
        async with app.state.sessionmaker() as session:
            principal = await principal_from_token(session, settings, hello.token)
        organization_id = principal.organization_id or hello.organization_id
        if organization_id is None:
            raise BadHello("the admin must name an organization_id in hello")
        if not principal.is_admin and hello.organization_id not in (None, organization_id):
            raise BadHello("this token belongs to another organization")
    except (BadHello, Unauthenticated, TimeoutError, WebSocketDisconnect) as exc:
        with contextlib.suppress(Exception):
            await ws.close(UNAUTHENTICATED, str(exc)[:120] or "unauthenticated")
        return
    connection = LiveConnection(
        ws,
        principal=principal,
        token=hello.token,
        organization_id=organization_id,
        hub=app.state.hub,
        settings=settings,
        sessionmaker=app.state.sessionmaker,
    )
    try:
        code, reason = await connection.run(hello.after)
    except WebSocketDisconnect:
        return
    log.info("closing live socket of %s: %s %s", principal.kind.value, code, reason)
    with contextlib.suppress(Exception):
        # A stalled client gets its close frame once it reads again; if it never does,
        # uvicorn's keepalive pings (20 s + 20 s) drop the connection.
        await asyncio.wait_for(ws.close(code, reason), 60)
