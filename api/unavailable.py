"""The answer while the database is unavailable: 503, Retry-After, and for an SOS the
number to call now.

The organization's fallback phone cannot be read from the database then, so every
SOS answer remembers it per device token (in this process, bounded); a phone this
process has not answered before is given the national default (1669).
"""

import asyncio
import logging
from collections import OrderedDict
from typing import Any

import psycopg
from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem, unexpected_error_handler
from core.db_errors import database_unavailable, pool_exhausted
from core.security import DEVICE_TOKEN_PREFIX, parse_device_token
from core.settings import Settings

log = logging.getLogger("phikat")

MAX_REMEMBERED = 200_000


class FallbackPhones:
    """Device token id → the fallback phone of its organization, least recent first out."""

    def __init__(self, limit: int = MAX_REMEMBERED) -> None:
        self._phones: OrderedDict[str, str] = OrderedDict()
        self._limit = limit

    def remember(self, token_id: str, phone: str) -> None:
        self._phones[token_id] = phone
        self._phones.move_to_end(token_id)
        while len(self._phones) > self._limit:
            self._phones.popitem(last=False)

    def lookup(self, token_id: str | None) -> str | None:
        return self._phones.get(token_id) if token_id else None


def device_token_id(request: Request) -> str | None:
    """The device token's id from the Authorization header, read without the database."""
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip()
    if not token.startswith(DEVICE_TOKEN_PREFIX):
        return None
    parts = parse_device_token(token)
    return str(parts.token_id) if parts else None


def unavailable_response(request: Request, *, busy: bool = False) -> JSONResponse:
    """``busy``: the database answers but no pooled connection came free in time."""
    settings: Settings = request.app.state.settings
    retry_after = str(settings.unavailable_retry_after_s)
    if request.url.path != "/v1/sos":
        why = "The service is very busy" if busy else "The database cannot be reached"
        return problem(
            503,
            "Service unavailable",
            f"{why} just now; nothing was stored. Try again shortly.",
            slug="busy" if busy else "unavailable",
            headers={"Retry-After": retry_after},
        )
    phones: FallbackPhones = request.app.state.fallback_phones
    phone = phones.lookup(device_token_id(request)) or settings.national_fallback_phone
    return problem(
        503,
        "SOS not stored",
        f"Your SOS could not be stored just now. Call {phone} now; the phone will also "
        "send it again.",
        slug="sos-unavailable",
        headers={"Retry-After": retry_after},
        extensions={
            "fallback_phone": phone,
            "message": f"ระบบยังรับสัญญาณไม่ได้ โทร {phone} ทันที | "
            f"Your SOS could not be sent yet. Call {phone} now.",
        },
    )


async def error_handler(request: Request, exc: Exception) -> JSONResponse:
    """The last resort: 503 while the database is unavailable, otherwise as before."""
    if database_unavailable(exc):
        log.warning(
            "%s %s: database unavailable (%s)", request.method, request.url.path, type(exc).__name__
        )
        return unavailable_response(request, busy=pool_exhausted(exc))
    return await unexpected_error_handler(request, exc)


class DatabaseWatch:
    """Probes the database every ``interval_s`` on a connection of its own: while a
    probe fails or takes longer than ``timeout_s``, requests are answered 503 at once
    instead of each waiting for its own timeout. Logs once per outage."""

    def __init__(self, conninfo: str, *, interval_s: float, timeout_s: float) -> None:
        self._conninfo = conninfo
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        self.available = True
        # Set when the database goes away; a new one is made when it is back.
        self.went_down = asyncio.Event()
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def run(self) -> None:
        try:
            while True:
                await self.probe()
                await asyncio.sleep(self._interval_s)
        finally:
            self._abandon()

    async def probe(self) -> None:
        # Not cancelled on timeout: psycopg answers a cancellation by cancelling the query
        # on the server, which on a silent socket takes seconds. It is left to finish
        # (or fail) alone, and the verdict is given now.
        attempt = asyncio.ensure_future(self._select_one())
        done, _ = await asyncio.wait({attempt}, timeout=self._timeout_s)
        error = attempt.exception() if done else TimeoutError("no answer in time")
        if not done:
            attempt.add_done_callback(_retrieve)
            self._abandon()
        if error is not None:
            if self.available:
                log.error("database unavailable (%s): answering 503", type(error).__name__)
                self.available = False
                self.went_down.set()
            return
        if not self.available:
            log.warning("database available again")
            self.went_down = asyncio.Event()
        self.available = True

    async def _select_one(self) -> None:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            await self._conn.execute("SELECT 1")
        except Exception:
            self._abandon()
            raise

    def _abandon(self) -> None:
        """Forget the probe connection; closing it is left to the garbage collector's
        side of psycopg (a silent socket must not hold the watch)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            closing = asyncio.ensure_future(conn.close())
            closing.add_done_callback(_retrieve)


# Paths that answer without the database (or say it is down themselves).
# /metrics answers during an outage too (without the figures read from the database).
_WITHOUT_DATABASE = ("/healthz", "/readyz", "/readyz/live", "/metrics")


class UnavailableMiddleware:
    """While the watch says the database is unavailable, every request that needs it is
    answered 503 (an SOS with the number to call) without waiting; requests in flight
    when it goes away are cut and answered so too, rather than hang on a silent socket.
    Nothing of a cut request is lost: a phone's retry with its Idempotency-Key finds the
    SOS if its commit did reach the database, and stores it otherwise."""

    def __init__(self, app: ASGIApp, *, grace_s: float = 1.0) -> None:
        self.app = app
        self.grace_s = grace_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watch: DatabaseWatch | None = getattr(scope["app"].state, "database_watch", None)
        if scope["type"] != "http" or watch is None or scope["path"] in _WITHOUT_DATABASE:
            await self.app(scope, receive, send)
            return
        if not watch.available:
            await self._refuse(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        request = asyncio.ensure_future(self.app(scope, receive, tracking_send))
        gone = asyncio.ensure_future(watch.went_down.wait())
        try:
            await asyncio.wait({request, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if request.done():
            error = request.exception()
            if error is None:
                return
            if not database_unavailable(error) or started:
                raise error
            # Answered here, not by the last-resort handler: that one re-raises after
            # answering, and the server then drops the connection.
            log.warning(
                "%s %s: database unavailable (%s)",
                scope["method"],
                scope["path"],
                type(error).__name__,
            )
            await self._refuse(scope, receive, send, busy=pool_exhausted(error))
            return
        request.cancel()
        request.add_done_callback(_retrieve)
        # Its clean-up may itself wait on the silent socket: give it a moment, no more.
        await asyncio.wait({request}, timeout=self.grace_s)
        if not started:
            await self._refuse(scope, receive, send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, *, busy: bool = False
    ) -> None:
        response = unavailable_response(Request(scope, receive), busy=busy)
        await response(scope, receive, send)


def _retrieve(task: "asyncio.Future[None]") -> None:
    if not task.cancelled():
        task.exception()  # a cut request's late error is expected, not "never retrieved"
