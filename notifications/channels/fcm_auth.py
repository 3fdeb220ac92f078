"""FCM's OAuth access token, refreshed in a worker thread, never on the event loop.

firebase-admin's async client authenticates each request through google-auth's
``before_request``, which refreshes a missing or nearly expired token (within
3¾ minutes of expiry) synchronously, with ``requests``, on the calling thread:
the event loop that also serves SOS presses. That happens once an hour, and
takes up to 120 s per try when Google's token endpoint cannot be reached.

``OffLoopAuth`` replaces that step on the SDK's httpx client (the SDK still
builds, sends and classifies every message). It asks a ``TokenKeeper`` for the
token, which refreshes it with ``asyncio.to_thread``: ahead of time, in the
background, while the current token still has ``refresh_ahead_s`` left; and
only when no usable token is left does a send wait for the refresh (at most
``timeout_s``, the loop serving everyone else meanwhile). A 401 from FCM gets
one new token the same way.
"""

import asyncio
import logging
import math
from collections.abc import AsyncGenerator, Generator
from datetime import UTC, datetime
from typing import Any

import httpx
from google.auth.credentials import Credentials
from google.auth.transport.requests import Request as GoogleRequest

log = logging.getLogger("phikat.fcm")

# A token with less than this left is not used: the send waits for a new one.
MIN_LEFT_S = 30.0
# After a failed background refresh, the next one waits this long (unless a send must).
RETRY_AFTER_FAILURE_S = 10.0


class _BoundedRequest(GoogleRequest):
    """google-auth's requests transport with a cap on each request's timeout (120 s)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Any = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        limit = self.timeout_s if timeout is None else min(timeout, self.timeout_s)
        return super().__call__(url, method, body, headers, limit, **kwargs)  # type: ignore[no-untyped-call]


class TokenKeeper:
    """Keeps a google-auth credential's access token fresh, off the event loop."""

    def __init__(
        self, credential: Credentials, *, timeout_s: float = 30.0, refresh_ahead_s: float = 600.0
    ) -> None:
        self.credential = credential
        self.timeout_s = timeout_s
        self.refresh_ahead_s = refresh_ahead_s
        self._request = _BoundedRequest(timeout_s)
        self._refreshing: asyncio.Task[None] | None = None
        self._quiet_until = 0.0

    def left_s(self) -> float:
        """Seconds the current token stays valid (0 without one)."""
        if self.credential.token is None:
            return 0.0
        expiry: datetime | None = self.credential.expiry
        if expiry is None:
            return math.inf
        # google-auth keeps naive UTC datetimes.
        return (expiry.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds()

    async def token(self) -> str:
        """A token valid for at least ``MIN_LEFT_S``; raises ``TimeoutError`` or
        google-auth's ``RefreshError``/``TransportError`` when none can be had."""
        left = self.left_s()
        if left < MIN_LEFT_S:
            await self._wait(self._refresh())
        elif left < self.refresh_ahead_s and self._loop_time() >= self._quiet_until:
            self._refresh()
        return str(self.credential.token)

    async def renew(self, refused: str) -> str:
        """A new token after FCM refused ``refused`` (401), unless one came meanwhile."""
        if self.credential.token == refused:
            await self._wait(self._refresh())
        return str(self.credential.token)

    async def close(self) -> None:
        if self._refreshing is not None and not self._refreshing.done():
            self._refreshing.cancel()  # stops waiting; the thread ends within its timeout

    async def _wait(self, refreshing: asyncio.Task[None]) -> None:
        async with asyncio.timeout(self.timeout_s):
            await asyncio.shield(refreshing)

    def _refresh(self) -> asyncio.Task[None]:
        """The refresh in flight, or a new one: one at a time, in a worker thread."""
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.create_task(
                asyncio.to_thread(self.credential.refresh, self._request)
            )
            self._refreshing.add_done_callback(self._refreshed)
        return self._refreshing

    def _refreshed(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        if (exc := task.exception()) is not None:
            self._quiet_until = self._loop_time() + RETRY_AFTER_FAILURE_S
            log.warning("refreshing the FCM access token failed: %s: %s", type(exc).__name__, exc)

    @staticmethod
    def _loop_time() -> float:
        return asyncio.get_running_loop().time()


class OffLoopAuth(httpx.Auth):
    """httpx auth for the SDK's async client: the keeper's token, never a refresh on the loop."""

    def __init__(self, keeper: TokenKeeper) -> None:
        self.keeper = keeper

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError("FCM messages are sent with the SDK's async client only")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.keeper.token()
        request.headers["authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == httpx.codes.UNAUTHORIZED:
            token = await self.keeper.renew(token)
            request.headers["authorization"] = f"Bearer {token}"
            yield request
