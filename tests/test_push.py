"""Push and fallback channels: the real firebase-admin client against a local fake of
the FCM HTTP v1 API (and of Google's token endpoint), the SMS webhook, the outbox."""

import asyncio
import json
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update

from core.settings import Settings
from core.uow import unit_of_work
from dispatch.enums import DeadlineKind
from dispatch.models import Elder
from notifications.channels.base import Delivery
from notifications.channels.factory import build_channels
from notifications.channels.fcm import FcmChannel
from notifications.channels.log import LogChannel
from notifications.models import OutboxMessage, PushDevice
from notifications.sender import Channels, send_due
from tests.dispatch_helpers import event_names, fire_next, sos
from tests.factories import World
from tests.fake_fcm import PROJECT, FakeGoogle, service_account_file
from tests.outbox_support import Maker, channels, google, register, sender_settings, start_worker

__all__ = ["channels", "google", "sender_settings"]  # fixtures


async def outbox(sessionmaker: Maker, incident: str) -> list[OutboxMessage]:
    """The incident's messages to staff and the elder's phone; the family's (to a contact's
    phone, about the elder) are tests/test_line_family.py's."""
    async with sessionmaker() as session:
        return list(
            await session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.incident_id == uuid.UUID(incident),
                    (OutboxMessage.recipient_elder_id.is_(None))
                    | (OutboxMessage.recipient_phone.is_(None)),
                )
                .order_by(OutboxMessage.created_at, OutboxMessage.kind)
            )
        )


async def drain(sessionmaker: Maker, channels: Channels) -> None:
    while await send_due(sessionmaker, channels):
        pass


def for_token(google: FakeGoogle, token: str) -> list[dict[str, object]]:
    return [m for m in google.fcm if m["body"]["message"]["token"] == token]


async def test_an_offer_push_is_the_request_google_expects(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    channels: Channels,
    google: FakeGoogle,
) -> None:
    token = f"tok-{uuid.uuid4().hex}"
    await register(client, world.responder, token)
    incident = await sos(client, world)
    (row,) = await outbox(sessionmaker, incident)
    assert row.kind == "offer" and row.state == "pending"
    await drain(sessionmaker, channels)
    (request,) = for_token(google, token)
    assert request["path"] == f"/v1/projects/{PROJECT}/messages:send"
    assert request["headers"]["authorization"].startswith("Bearer fake-")  # type: ignore[index]
    message = request["body"]["message"]  # type: ignore[index]
    assert message["data"]["kind"] == "offer" and message["data"]["incident_id"] == incident
    assert message["data"]["offer_id"] == str(row.offer_id)
    assert message["android"]["priority"] == "high"
    assert message["android"]["ttl"] == "60s"  # the offer's time to accept
    assert message["android"]["collapse_key"] == incident
    assert message["android"]["notification"]["channel_id"] == "sos_offers"
    assert message["apns"]["headers"]["apns-priority"] == "10"
    assert message["apns"]["payload"]["aps"]["sound"] == {
        "critical": 1,
        "name": "sos.caf",
        "volume": 1.0,
    }
    assert message["notification"]["title"] == "เหตุฉุกเฉินใกล้คุณ"  # Thai by default
    assert "ยายสมศรี" in message["notification"]["body"]
    assert request["size"] < 4096  # type: ignore[operator]
    (sent,) = await outbox(sessionmaker, incident)
    assert sent.state == "sent" and sent.channel == "fcm" and sent.attempts == 1
    await drain(sessionmaker, channels)
    assert len(for_token(google, token)) == 1  # never again after a success


async def test_an_escalation_is_pushed_to_the_officers_phones(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    channels: Channels,
    google: FakeGoogle,
) -> None:
    token = f"officer-{uuid.uuid4().hex}"
    await register(client, world.officer, token)
    incident = await sos(client, world)
    escalated = await client.post(f"/v1/incidents/{incident}/escalate", headers=world.officer)
    assert escalated.status_code == 200, escalated.text
    await drain(sessionmaker, channels)
    (request,) = for_token(google, token)
    message = request["body"]["message"]  # type: ignore[index]
    assert message["data"]["kind"] == "escalation"
    assert message["data"]["incident_id"] == incident
    escalations = [m for m in await outbox(sessionmaker, incident) if m.kind == "escalation"]
    assert escalations and {m.state for m in escalations} == {"sent"}


async def test_dead_tokens_are_pruned_and_the_officers_told(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    channels: Channels,
    google: FakeGoogle,
) -> None:
    gone, bad, good = (f"{p}-{uuid.uuid4().hex}" for p in ("unregistered", "invalid", "tok"))
    for token in (gone, bad):
        await register(client, world.responder, token)
    incident = await sos(client, world)
    await drain(sessionmaker, channels)
    async with sessionmaker() as session:
        left = list(
            await session.scalars(
                select(PushDevice.fcm_token).where(PushDevice.user_id == world.responder_id)
            )
        )
    assert left == []
    (row,) = await outbox(sessionmaker, incident)
    assert row.state == "failed" and "UnregisteredError" in (row.last_error or "")
    assert (await event_names(sessionmaker, incident))[-1] == "message.failed"
    # With one good device among dead ones the message counts as sent.
    await register(client, world.responder, good)
    await register(client, world.responder, f"unregistered-{uuid.uuid4().hex}")
    await client.post(
        f"/v1/incidents/{incident}/cancel", json={"reason": "test"}, headers=world.officer
    )
    await drain(sessionmaker, channels)
    withdrawn = [r for r in await outbox(sessionmaker, incident) if r.kind == "offer_withdrawn"]
    assert [r.state for r in withdrawn] == ["sent"]


async def test_quota_and_busy_answers_back_off_as_fcm_asks_then_give_up(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    channels: Channels,
) -> None:
    quota = f"quota-{uuid.uuid4().hex}"
    await register(client, world.responder, quota)
    incident = await sos(client, world)
    started = datetime.now(UTC)
    await drain(sessionmaker, channels)
    (row,) = await outbox(sessionmaker, incident)
    assert row.state == "pending" and row.attempts == 1
    assert row.next_attempt_at >= started + timedelta(seconds=60)  # QUOTA_EXCEEDED: >= 1 min
    async with unit_of_work(sessionmaker) as session:
        await session.execute(
            update(PushDevice)
            .where(PushDevice.fcm_token == quota)
            .values(fcm_token=f"busy-{uuid.uuid4().hex}")
        )
    for attempt in range(2, 7):
        async with unit_of_work(sessionmaker) as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == row.id)
                .values(next_attempt_at=datetime.now(UTC))
            )
        before = datetime.now(UTC)
        await drain(sessionmaker, channels)
        (row,) = await outbox(sessionmaker, incident)
        assert row.attempts == attempt
        if attempt < 6:
            wait = row.next_attempt_at - before
            assert wait >= timedelta(seconds=max(7, 2**attempt) - 1)  # Retry-After: 7, or 2^n
    assert row.state == "failed"
    assert (await event_names(sessionmaker, incident))[-1] == "message.failed"


async def test_a_transient_failure_is_retried_and_sent_once(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    channels: Channels,
    google: FakeGoogle,
) -> None:
    token = f"tok-{uuid.uuid4().hex}"
    google.fail_next[token] = 1
    await register(client, world.responder, token)
    incident = await sos(client, world)
    await drain(sessionmaker, channels)
    async with unit_of_work(sessionmaker) as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.incident_id == uuid.UUID(incident))
            .values(next_attempt_at=datetime.now(UTC))
        )
    await drain(sessionmaker, channels)
    assert [m["status"] for m in for_token(google, token)] == [429, 200]
    (row,) = await outbox(sessionmaker, incident)
    assert row.state == "sent" and row.attempts == 2


async def test_no_receipt_in_15_s_sends_the_offer_by_sms(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    channels: Channels,
    google: FakeGoogle,
) -> None:
    await register(client, world.responder, f"tok-{uuid.uuid4().hex}")
    incident = await sos(client, world)
    await drain(sessionmaker, channels)
    assert await fire_next(sessionmaker, world, incident, DeadlineKind.RECEIPT) == 1
    await drain(sessionmaker, channels)
    (sms,) = [m for m in google.sms if incident in m["message"]]
    assert sms["msisdn"] == "0899999999" and sms["sender"] == "PHIKAT"
    assert sms["message"].startswith("พิกัด SOS: ยายสมศรี")
    detail = await client.get(f"/v1/incidents/{incident}", headers=world.officer)
    unreceived = [e for e in detail.json()["events"] if e["event"] == "offer.unreceived"]
    assert unreceived and unreceived[0]["data"]["fallback"] == "sms"


async def test_a_received_offer_is_not_sent_again_by_sms(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    channels: Channels,
    google: FakeGoogle,
) -> None:
    incident = await sos(client, world)
    detail = await client.get(f"/v1/incidents/{incident}", headers=world.responder)
    offer_id = detail.json()["offers"][0]["id"]
    assert (
        await client.post(f"/v1/offers/{offer_id}/received", headers=world.responder)
    ).status_code == 204
    await drain(sessionmaker, channels)  # the family's "help is being arranged"
    sms_before = len(google.sms)
    await fire_next(sessionmaker, world, incident, DeadlineKind.RECEIPT)
    await drain(sessionmaker, channels)
    assert len(google.sms) == sms_before
    assert "offer.unreceived" not in await event_names(sessionmaker, incident)


async def test_help_coming_reaches_the_elder_and_family_in_their_language(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    channels: Channels,
    google: FakeGoogle,
) -> None:
    elder_token = f"tok-{uuid.uuid4().hex}"
    await register(client, world.elder, elder_token)
    incident = await sos(client, world)
    await client.post(f"/v1/incidents/{incident}/accept", headers=world.responder)
    await drain(sessionmaker, channels)
    (push,) = for_token(google, elder_token)
    body = push["body"]["message"]["notification"]["body"]  # type: ignore[index]
    assert body.startswith("Caregiver กำลังไปหาคุณ")
    family = [m for m in google.sms if m["msisdn"] == "0812345678"]
    assert family and family[-1]["message"].startswith("พิกัด: ยายสมศรี ทดสอบ กดขอความช่วยเหลือ")

    async with unit_of_work(sessionmaker) as session:
        await session.execute(update(Elder).where(Elder.id == world.elder_id).values(language="en"))
    await client.post(
        f"/v1/incidents/{incident}/resolve", json={"outcome": "false_alarm"}, headers=world.officer
    )
    second = await sos(client, world)
    await client.post(f"/v1/incidents/{second}/accept", headers=world.responder)
    await drain(sessionmaker, channels)
    english = for_token(google, elder_token)[-1]["body"]["message"]  # type: ignore[index]
    assert english["notification"]["body"].startswith("Caregiver is on the way")


async def test_without_credentials_messages_are_logged_and_the_server_says_so(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING"):
        built = build_channels(
            settings.model_copy(update={"fcm_credentials": None, "sms_webhook_url": None})
        )
    assert isinstance(built.push, LogChannel) and isinstance(built.sms, LogChannel)
    assert "LOGGED, NOT SENT" in caplog.text


@pytest.mark.slow
async def test_a_sender_killed_after_the_commit_loses_nothing_and_sends_once(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    sender_settings: Settings,
    google: FakeGoogle,
) -> None:
    token = f"tok-{uuid.uuid4().hex}"
    await register(client, world.responder, token)
    # The SOS commits its offer message; no sender is running: the "crash" window.
    incident = await sos(client, world)
    with start_worker(sender_settings, google) as first:
        deadline = time.monotonic() + 30
        # Killed once the push is out and recorded (killed in between: test_outbox_lease).
        while [r.state for r in await outbox(sessionmaker, incident)] != ["sent"]:
            assert time.monotonic() < deadline, "the sender did not send"
            await asyncio.sleep(0.05)
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(timeout=10)
    with start_worker(sender_settings, google) as second:
        await second.ready()
        await asyncio.sleep(1)
        second.proc.send_signal(signal.SIGTERM)
        assert second.proc.wait(timeout=15) == 0
    assert len(for_token(google, token)) == 1
    offers = [r for r in await outbox(sessionmaker, incident) if r.kind == "offer"]
    assert [r.state for r in offers] == ["sent"]


def test_the_fake_service_account_is_what_the_sdk_reads(tmp_path: Path) -> None:
    account = json.loads(service_account_file(tmp_path / "sa.json", "http://x/token").read_text())
    assert account["type"] == "service_account" and account["project_id"] == PROJECT


@pytest.mark.parametrize("fcm", ["refuses connections", "never answers"])
async def test_fcm_out_of_reach_is_a_failure_to_retry_not_an_error(
    google: FakeGoogle, tmp_path: Path, fcm: str
) -> None:
    """Pushes go over aiohttp's connections under the SDK (issue 17): a refused connection
    or a silent server must still come back as FCM errors the sender retries."""
    account = service_account_file(tmp_path / "sa.json", f"{google.url}/token")

    done = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await done.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    if fcm == "refuses connections":
        server.close()
        await server.wait_closed()
    channel = FcmChannel(
        credentials_path=str(account), endpoint=f"http://127.0.0.1:{port}", timeout_s=2
    )
    delivery = Delivery(uuid.uuid4(), "tok", "SOS", "body", {"incident_id": "i"}, 60, True)
    try:
        async with asyncio.timeout(60):
            (outcome,) = await channel.send([delivery])
    finally:
        done.set()
        await channel.close()
        server.close()
    assert not outcome.ok and not outcome.drop_address, outcome
    assert outcome.retry_after_s is not None, outcome
