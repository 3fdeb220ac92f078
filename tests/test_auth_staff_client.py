"""The staff client used by our tools waits out a busy login answer (429)."""

import httpx
import pytest

from api.staff_auth import StaffAuth

TOKENS = {"access_token": "a", "refresh_token": "r", "expires_in": 900}


def client_answering(*answers: httpx.Response) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    transport = httpx.MockTransport(handler)
    return httpx.AsyncClient(transport=transport, base_url="http://phikat.test"), seen


async def test_a_busy_login_is_tried_again_after_retry_after() -> None:
    client, seen = client_answering(
        httpx.Response(429, headers={"Retry-After": "0"}),
        httpx.Response(200, json=TOKENS),
    )
    async with client:
        auth = await StaffAuth.login(client, "o@example.org", "pw")
    assert auth.access_token == "a" and len(seen) == 2


async def test_a_lockout_longer_than_the_wait_is_raised() -> None:
    client, seen = client_answering(httpx.Response(429, headers={"Retry-After": "60"}))
    async with client:
        with pytest.raises(httpx.HTTPStatusError):
            await StaffAuth.login(client, "o@example.org", "pw")
    assert len(seen) == 1
