"""FCM's OAuth token is fetched and refreshed off the event loop: with Google's token
endpoint slow (2 s), a coroutine beside the send never finds the loop blocked."""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

from notifications.channels.base import Delivery, Outcome
from notifications.channels.fcm import FcmChannel
from notifications.sender import Channels
from tests.fake_fcm import FakeGoogle
from tests.outbox_support import channels, google, loop_lag, sender_settings, until

__all__ = ["channels", "google", "sender_settings"]  # fixtures

TOKEN_DELAY_S = 2.0
MAX_LAG_S = 0.2


def push(token: str) -> Delivery:
    return Delivery(
        message_id=uuid.uuid4(),
        address=token,
        title="test",
        body="test",
        data={"kind": "test", "incident_id": "", "offer_id": ""},
        ttl_s=60,
        urgent=True,
        platform="android",
    )


def expire_in(channel: FcmChannel, seconds: float) -> None:
    """Make the SDK's credential believe its token runs out in ``seconds``."""
    credential = channel.app.credential.get_credential()
    credential.expiry = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=seconds)


async def test_the_oauth_token_is_refreshed_off_the_event_loop(
    channels: Channels, google: FakeGoogle
) -> None:
    assert isinstance(channels.push, FcmChannel)
    fcm = channels.push
    token = f"tok-{uuid.uuid4().hex}"
    google.token_delay_s = TOKEN_DELAY_S
    first = google.token_requests + 1
    try:
        # The first send fetches a token; then it runs out; then it is close to running out.
        for expiry_s in (None, -1.0, 120.0):
            if expiry_s is not None:
                expire_in(fcm, expiry_s)
            fetched = google.token_requests
            started = time.perf_counter()
            async with loop_lag() as lag:
                outcomes = await fcm.send([push(token)])
                # A refresh ahead of expiry goes on in the background; see it through.
                await until(
                    lambda before=fetched: google.token_requests > before,
                    timeout_s=10,
                    what="a token request",
                )
                await asyncio.sleep(TOKEN_DELAY_S + 0.2)
            took = time.perf_counter() - started
            assert outcomes == [Outcome(ok=True)]
            assert google.token_requests == fetched + 1
            assert lag.worst_s < MAX_LAG_S, (
                f"the loop was blocked {lag.worst_s:.2f} s (token expiry {expiry_s})"
            )
            assert lag.ticks > took / 0.05
        sent = [m for m in google.fcm if m["body"]["message"]["token"] == token]
        # Each send carried a valid token (the fake numbers them); the last one the token
        # that was still good for two minutes, while its successor was being fetched.
        assert [m["headers"]["authorization"] for m in sent] == [
            f"Bearer fake-{n}" for n in (first, first + 1, first + 1)
        ]
    finally:
        google.token_delay_s = 0.0


async def test_a_refused_token_is_replaced_off_the_event_loop(
    channels: Channels, google: FakeGoogle
) -> None:
    assert isinstance(channels.push, FcmChannel)
    fcm = channels.push
    token = f"tok-{uuid.uuid4().hex}"
    assert await fcm.send([push(token)]) == [Outcome(ok=True)]
    google.revoked.add(f"fake-{google.token_requests}")  # Google no longer takes it
    google.token_delay_s = TOKEN_DELAY_S
    try:
        async with loop_lag() as lag:
            outcomes = await fcm.send([push(token)])
    finally:
        google.token_delay_s = 0.0
    assert outcomes == [Outcome(ok=True)]
    statuses = [m["status"] for m in google.fcm if m["body"]["message"]["token"] == token]
    assert statuses == [200, 401, 200]
    assert lag.worst_s < MAX_LAG_S, f"the loop was blocked {lag.worst_s:.2f} s"
