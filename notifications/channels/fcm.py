"""Firebase Cloud Messaging through the real firebase-admin SDK (send_each_async).

An offer wakes a dozing Android (priority high, its own notification channel,
a TTL equal to the time to accept) and an iPhone (apns-priority 10, a critical
alert sound); one collapse key per incident, so a withdrawal replaces the
offer on the lock screen. Errors are classified as FCM documents them.

The SDK's OAuth token is refreshed off the event loop (``fcm_auth``); each
request times out after ``timeout_s`` (the SDK's default is 120 s). Its requests go out
over HTTP/1.1 through aiohttp under the SDK's own retries (``send_over_aiohttp``).
"""

import asyncio
import json
import time
import uuid
import warnings
from datetime import timedelta
from typing import Any

import firebase_admin
import httpx
from firebase_admin import credentials, exceptions, messaging
from firebase_admin._retry import HttpxRetryTransport
from google.auth.exceptions import GoogleAuthError
from httpx_aiohttp import AiohttpTransport

from notifications.channels.base import Delivery, Outcome
from notifications.channels.fcm_auth import OffLoopAuth, TokenKeeper

# Requests sent together (one send_each_async, at most 500), and how many such chunks
# at once: no more requests than the connections of the pool (CONNECTIONS). A request
# queued for a connection counts against its timeout; waiting here does not.
CHUNK = 50
CHUNKS_AT_ONCE = 2
CONNECTIONS = CHUNK * CHUNKS_AT_ONCE
ANDROID_CHANNEL = "sos_offers"
CRITICAL_SOUND = "sos.caf"
QUOTA_BACKOFF_S = 60.0
# No access token could be had (Google's token endpoint down): try again after this.
NO_TOKEN_BACKOFF_S = 10.0
# Tokens FCM says will never work again.
DEAD_TOKEN_ERRORS = (
    messaging.UnregisteredError,
    messaging.SenderIdMismatchError,
    exceptions.InvalidArgumentError,
)


def point_sdk_at(endpoint: str) -> None:
    """Send to another FCM endpoint (a local fake in tests). firebase-admin has no setting
    for this; its URL is a class attribute read when the messaging service is created."""
    base = endpoint.rstrip("/")
    messaging._MessagingService.FCM_URL = base + "/v1/projects/{0}/messages:send"


def send_over_aiohttp(service: Any) -> None:
    """Put aiohttp's HTTP/1.1 connections under the SDK's retrying transports, in place
    of httpx's own. httpx's request path cost about 2 ms of CPU per push (its pool
    checks every connection on each request): one sender reached ~500 pushes/s, and
    ~1,500/s this way (docs/performance.md). The SDK still builds the requests, signs
    them, retries 500/503 and turns errors into FirebaseErrors: httpx-aiohttp raises
    httpx's exceptions. HTTP/1.1 is what the SDK's own synchronous client speaks to FCM.
    """
    transports = service._async_client._mounts.values()
    if not transports or not all(isinstance(t, HttpxRetryTransport) for t in transports):
        raise RuntimeError("firebase-admin's HTTP transports changed: see send_over_aiohttp")
    for transport in transports:
        transport._wrapped_transport = AiohttpTransport(
            limits=httpx.Limits(max_connections=CONNECTIONS)
        )


def build_message(delivery: Delivery) -> messaging.Message:
    collapse = delivery.data.get("incident_id") or str(delivery.message_id)
    ttl = timedelta(seconds=max(delivery.ttl_s, 0))
    # APNs keeps an undelivered notification until this moment (epoch seconds).
    expiry = str(int(time.time()) + max(delivery.ttl_s, 0))
    # The apps register FCM registration tokens (API.md's fcm_token); firebase-admin 7.7
    # marks `token` deprecated in favour of installation ids (`fid`), which we do not have.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return _message(delivery, collapse, ttl, expiry)


def _message(delivery: Delivery, collapse: str, ttl: timedelta, expiry: str) -> messaging.Message:
    return messaging.Message(
        token=delivery.address,
        # message_id: the app (and the fault suite) can tell a resend from a new message.
        data={
            **delivery.data,
            "message_id": str(delivery.message_id),
            "title": delivery.title,
            "body": delivery.body,
        },
        notification=messaging.Notification(title=delivery.title, body=delivery.body),
        android=messaging.AndroidConfig(
            priority="high" if delivery.urgent else "normal",
            ttl=ttl,
            collapse_key=collapse,
            notification=messaging.AndroidNotification(
                channel_id=ANDROID_CHANNEL if delivery.urgent else None,
                default_sound=True,
                tag=collapse,
            ),
        ),
        apns=messaging.APNSConfig(
            headers={
                "apns-priority": "10" if delivery.urgent else "5",
                "apns-collapse-id": collapse[:64],
                "apns-expiration": expiry,
            },
            payload=messaging.APNSPayload(
                aps=messaging.Aps(
                    sound=messaging.CriticalSound(CRITICAL_SOUND, critical=True, volume=1.0)
                    if delivery.urgent
                    else "default",
                    content_available=True,
                )
            ),
        ),
    )


def classify(error: Exception) -> Outcome:
    text = f"{type(error).__name__}: {error}"
    if isinstance(error, DEAD_TOKEN_ERRORS):
        return Outcome(ok=False, drop_address=True, error=text)
    if isinstance(error, messaging.QuotaExceededError):
        return Outcome(
            ok=False, retry_after_s=max(_retry_after(error), QUOTA_BACKOFF_S), error=text
        )
    if isinstance(error, messaging.ThirdPartyAuthError | exceptions.PermissionDeniedError):
        return Outcome(ok=False, error=text)  # configuration: retrying will not help
    # 429 (resource exhausted), 5xx, timeouts, connection errors: try again later.
    return Outcome(ok=False, retry_after_s=_retry_after(error), error=text)


def _retry_after(error: Exception) -> float:
    response = getattr(error, "http_response", None)
    value = response.headers.get("Retry-After") if response is not None else None
    try:
        return max(float(value), 0.0) if value else 0.0
    except ValueError:
        return 0.0


def service_account(setting: str) -> str | dict[str, Any]:
    """PHIKAT_FCM_CREDENTIALS: the service-account file's path, or the file's JSON itself
    (what a systemd credential named phikat_fcm_credentials gives the settings)."""
    if setting.lstrip().startswith("{"):
        account: dict[str, Any] = json.loads(setting)
        return account
    return setting


class FcmChannel:
    name = "fcm"

    def __init__(
        self,
        *,
        credentials_path: str,
        endpoint: str | None = None,
        timeout_s: float = 10.0,
        token_timeout_s: float = 30.0,
    ) -> None:
        if endpoint:
            point_sdk_at(endpoint)
        self.app = firebase_admin.initialize_app(
            credentials.Certificate(service_account(credentials_path)),
            options={"httpTimeout": timeout_s},
            name=f"phikat-{uuid.uuid4().hex[:8]}",
        )
        self._chunks = asyncio.Semaphore(CHUNKS_AT_ONCE)
        self.tokens = TokenKeeper(self.app.credential.get_credential(), timeout_s=token_timeout_s)
        # The SDK's own auth step would refresh the token synchronously, on the loop.
        service = messaging._get_messaging_service(self.app)
        service._async_client.async_client.auth = OffLoopAuth(self.tokens)
        send_over_aiohttp(service)

    async def send(self, deliveries: list[Delivery]) -> list[Outcome]:
        try:
            await self.tokens.token()
        except (TimeoutError, GoogleAuthError) as exc:
            error = f"no FCM access token: {type(exc).__name__}: {exc}"
            return [Outcome(ok=False, retry_after_s=NO_TOKEN_BACKOFF_S, error=error)] * len(
                deliveries
            )
        chunks = [deliveries[i : i + CHUNK] for i in range(0, len(deliveries), CHUNK)]
        sent = await asyncio.gather(*(self._send_chunk(chunk) for chunk in chunks))
        return [outcome for outcomes in sent for outcome in outcomes]

    async def _send_chunk(self, chunk: list[Delivery]) -> list[Outcome]:
        async with self._chunks:
            try:
                batch = await messaging.send_each_async(
                    [build_message(d) for d in chunk], app=self.app
                )
            except (exceptions.FirebaseError, ValueError) as exc:
                return [classify(exc)] * len(chunk)
        return [
            Outcome(ok=True) if r.success else classify(r.exception or RuntimeError("failed"))
            for r in batch.responses
        ]

    async def close(self) -> None:
        # delete_app() closes the SDK's async HTTP client with asyncio.run(), which cannot
        # run inside our loop: close that client here, then delete the app off the loop.
        await self.tokens.close()
        service = messaging._get_messaging_service(self.app)
        await service._async_client.aclose()
        await asyncio.to_thread(firebase_admin.delete_app, self.app)
