"""Client side of staff sign-in for our own tools (simulator, benchmarks): an httpx auth
that renews the short-lived access token with the refresh token before it expires."""

import asyncio
import time
from collections.abc import AsyncGenerator
from typing import Any

import httpx

TOKEN_PATH = "/v1/auth/token"  # noqa: S105 (a path, not a secret)


class StaffAuth(httpx.Auth):
    requires_response_body = True

    def __init__(self, tokens: dict[str, Any]) -> None:
        self._take(tokens)

    @classmethod
    async def login(
        cls, client: httpx.AsyncClient, email: str, password: str, *, max_wait_s: float = 10
    ) -> "StaffAuth":
        """Log in; a 429 (the server is busy with other logins) is tried again after its
        Retry-After, as long as the waits add up to no more than ``max_wait_s``."""
        deadline = time.monotonic() + max_wait_s
        while True:
            response = await client.post(TOKEN_PATH, data={"username": email, "password": password})
            wait = _retry_after_s(response)
            if wait is None or time.monotonic() + wait > deadline:
                response.raise_for_status()
                return cls(response.json())
            await asyncio.sleep(wait)

    def _take(self, tokens: dict[str, Any]) -> None:
        self.access_token = str(tokens["access_token"])
        self._refresh_token = str(tokens["refresh_token"])
        # Renew at 80 % of the lifetime: a slow request never carries an expired token.
        self._renew_at = time.monotonic() + 0.8 * float(tokens["expires_in"])

    def _renewal(self, request: httpx.Request) -> httpx.Request:
        return httpx.Request(
            "POST",
            request.url.copy_with(path=TOKEN_PATH, query=None),
            data={"grant_type": "refresh_token", "refresh_token": self._refresh_token},
        )

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if time.monotonic() >= self._renew_at:
            renewed = yield self._renewal(request)
            renewed.raise_for_status()
            self._take(renewed.json())
        request.headers["Authorization"] = f"Bearer {self.access_token}"
        yield request


def _retry_after_s(response: httpx.Response) -> float | None:
    if response.status_code != httpx.codes.TOO_MANY_REQUESTS:
        return None
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None
