"""LINE: push messages to family contacts through the organization's Official Account,
with the official SDK's asynchronous client (``line-bot-sdk`` v3, aiohttp underneath:
no thread, no blocking call on the event loop).

Each delivery carries its own channel access token (organizations have their own
accounts), passed per request (``_request_auth``), so one client, one connection pool
and one TLS context serve every organization. The client is built on first use: the
SDK loads the system's CA bundle then (about 50 ms, once per process).

- Every push carries ``X-Line-Retry-Key``: the outbox message's id, the same on every
  attempt. LINE executes a request once per key: a retry after a crash (the provider
  accepted, the sender died before recording it) is answered 409 with
  ``X-Line-Accepted-Request-Id`` and nothing is delivered twice; 409 is a delivery.
- 429 (rate limit) and 5xx, timeouts and unreachable: transient, retried with backoff
  (``Retry-After`` honoured). 429 "monthly limit" will not pass in minutes: permanent.
- Any other 4xx (a bad token 401, a user id LINE refuses 400, 403, 404): permanent; the
  outbox then queues the SMS fallback.
"""

import asyncio
import json
import logging
from typing import Any

import aiohttp
from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    FlexMessage,
    PushMessageRequest,
    ReplyMessageRequest,
    TextMessage,
)
from linebot.v3.messaging.exceptions import ApiException

from notifications.channels.base import Delivery, Outcome

log = logging.getLogger("phikat.line")

DEFAULT_API_URL = "https://api.line.me"
TRANSIENT = {408, 425, 429, 500, 502, 503, 504}
RETRY_KEY_HEADER = "X-Line-Retry-Key"
ACCEPTED_HEADER = "X-Line-Accepted-Request-Id"
# Connections to LINE at once (the SDK's default is 5 per CPU).
MAX_CONNECTIONS = 50


def bearer(access_token: str) -> dict[str, str]:
    """The SDK's per-request credentials, in place of the configuration's token."""
    return {
        "in": "header",
        "type": "bearer",
        "key": "Authorization",
        "value": f"Bearer {access_token}",
    }


class LineChannel:
    name = "line"

    def __init__(self, *, api_url: str = DEFAULT_API_URL, timeout_s: float = 10.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout_s = timeout_s
        self._client: AsyncApiClient | None = None
        self._api: AsyncMessagingApi | None = None

    def api(self) -> AsyncMessagingApi:
        if self._api is None:
            # No token here: each request brings its organization's (``bearer``).
            configuration = Configuration(host=self.api_url, access_token="")
            configuration.connection_pool_maxsize = MAX_CONNECTIONS
            self._client = AsyncApiClient(configuration)
            self._api = AsyncMessagingApi(self._client)
        return self._api

    async def send(self, deliveries: list[Delivery]) -> list[Outcome]:
        # All in flight at once (the sender bounds how many), but started one per turn of
        # the event loop: building and serializing a request in the SDK takes a couple of
        # milliseconds of CPU, which forty started together would spend in one turn.
        sending = []
        for delivery in deliveries:
            sending.append(asyncio.create_task(self._one(delivery)))
            await asyncio.sleep(0)
        return list(await asyncio.gather(*sending))

    async def _one(self, delivery: Delivery) -> Outcome:
        if not delivery.secret:
            return Outcome(ok=False, error="no LINE channel access token")
        try:
            message = FlexMessage.from_dict(json.loads(delivery.body))
            request = PushMessageRequest(to=delivery.address, messages=[message])
        except (ValueError, TypeError) as exc:  # a message LINE would refuse: ours to fix
            return Outcome(ok=False, error=f"not a LINE message: {str(exc)[:200]}")
        try:
            async with asyncio.timeout(self.timeout_s):
                answer = await self.api().push_message_with_http_info(
                    request,
                    x_line_retry_key=str(delivery.message_id),
                    _request_auth=bearer(delivery.secret),
                )
        except ApiException as exc:
            return _refused(exc)
        except TimeoutError:
            return Outcome(ok=False, retry_after_s=0, error="LINE: no answer in time")
        except aiohttp.ClientError as exc:
            return Outcome(ok=False, retry_after_s=0, error=f"LINE unreachable: {exc}")
        sent = answer.data.sent_messages if answer.data is not None else None
        return Outcome(ok=True, receipt=sent[0].id if sent else None)

    async def reply(self, access_token: str, reply_token: str, text: str) -> bool:
        """Answer a webhook event (free of charge; the token lasts about a minute). Never
        raises: a lost reply is logged, the link is made either way."""
        request = ReplyMessageRequest(reply_token=reply_token, messages=[TextMessage(text=text)])
        try:
            async with asyncio.timeout(self.timeout_s):
                await self.api().reply_message_with_http_info(
                    request, _request_auth=bearer(access_token)
                )
        except (ApiException, TimeoutError, aiohttp.ClientError) as exc:
            log.warning("LINE reply failed: %s", _short(exc))
            return False
        return True

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client, self._api = None, None


def _refused(exc: ApiException) -> Outcome:
    status = int(exc.status or 0)
    headers: Any = exc.headers or {}
    if status == 409 and headers.get(ACCEPTED_HEADER):
        # Accepted before under this retry key (a resend after a crash): delivered once.
        return Outcome(ok=True, receipt=f"accepted:{headers.get(ACCEPTED_HEADER)}")
    detail = _message(exc)
    if status in TRANSIENT and "monthly limit" not in detail.lower():
        return Outcome(
            ok=False,
            retry_after_s=_retry_after(headers.get("Retry-After")),
            error=f"LINE {status}: {detail}",
        )
    return Outcome(ok=False, error=f"LINE refused: {status} {detail}")


def _message(exc: ApiException) -> str:
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        return str(body)[:200]
    return str(parsed.get("message", ""))[:200] if isinstance(parsed, dict) else ""


def _retry_after(value: str | None) -> float:
    try:
        return max(float(value or "0"), 0.0)
    except ValueError:
        return 0.0


def _short(exc: BaseException) -> str:
    if isinstance(exc, ApiException):
        return f"{exc.status} {_message(exc)}"
    return type(exc).__name__
