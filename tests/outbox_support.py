"""Shared by the outbox tests: the fake Google (FCM, token endpoint, SMS webhook) as
fixtures, messages queued straight into the outbox, a `phikat worker` process, and a
probe of event-loop lag. Test modules import the fixtures they use."""

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import Settings
from core.uow import unit_of_work
from notifications.channels.factory import build_channels
from notifications.messages import Message, Recipient, Route
from notifications.outbox import enqueue
from notifications.sender import Channels
from tests.factories import World
from tests.fake_fcm import FakeGoogle, FakeGoogleServer, service_account_file
from tests.loop_lag import loop_lag

Maker = async_sessionmaker[AsyncSession]


@pytest.fixture(scope="module")
def google() -> Iterator[FakeGoogle]:
    with FakeGoogleServer() as fake:
        yield fake


@pytest.fixture(scope="module")
def sender_settings(
    settings: Settings, google: FakeGoogle, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    account = service_account_file(
        tmp_path_factory.mktemp("fcm") / "sa.json", f"{google.url}/token"
    )
    return settings.model_copy(
        update={
            "fcm_credentials": str(account),
            "fcm_endpoint": google.url,
            "sms_webhook_url": f"{google.url}/sms",
            "sms_template": '{"msisdn": "{to}", "message": "{text}", "sender": "PHIKAT"}',
        }
    )


@pytest.fixture
async def channels(sender_settings: Settings) -> AsyncIterator[Channels]:
    built = build_channels(sender_settings)
    yield built
    await built.close()


async def register(client: httpx.AsyncClient, headers: dict[str, str], token: str) -> None:
    response = await client.post(
        "/v1/devices", json={"fcm_token": token, "platform": "android"}, headers=headers
    )
    assert response.status_code == 201, response.text


async def queue(
    sessionmaker: Maker, world: World, count: int, *, route: Route = Route.PUSH
) -> list[str]:
    """``count`` messages for the world's responder, committed at once; their ids. With
    no incident, a push's collapse key is its message id (``by_message``)."""
    async with unit_of_work(sessionmaker) as session:
        rows = [
            enqueue(
                session,
                Message(
                    organization_id=world.org_id,
                    kind="offer",
                    route=route,
                    recipient=Recipient(user_id=world.responder_id),
                    template="offer",
                    values={"elder": f"Elder {n}", "distance": "300 m", "timeout": "60"},
                    urgent=True,
                    ttl_s=60,
                ),
            )
            for n in range(count)
        ]
        await session.flush()
        return [str(row.id) for row in rows]


def by_message(google: FakeGoogle, token: str) -> dict[str, list[dict[str, Any]]]:
    """The pushes the fake received for ``token``, by message (collapse key)."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for request in google.fcm:
        message = request["body"]["message"]
        if message["token"] == token:
            found[message["android"]["collapse_key"]].append(request)
    return found


async def until(condition: Any, *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def start_worker(sender_settings: Settings, google: FakeGoogle, **env: str) -> "Worker":
    """A real ``phikat worker`` (deadlines and outbox sender) in a child process."""
    environ = {
        **os.environ,
        "PHIKAT_DATABASE_URL": sender_settings.database_url,
        "PHIKAT_FCM_CREDENTIALS": str(sender_settings.fcm_credentials),
        "PHIKAT_FCM_ENDPOINT": google.url,
        "PHIKAT_SMS_WEBHOOK_URL": f"{google.url}/sms",
        "PHIKAT_LOG_LEVEL": "INFO",
        "PHIKAT_SENDER_POLL_S": "0.1",
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "api", "worker"],
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    worker = Worker(proc)
    threading.Thread(target=worker.drain, daemon=True).start()
    return worker


@dataclass
class Worker:
    proc: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)

    def drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)

    async def ready(self, timeout_s: float = 60) -> None:
        """Until its sender runs (and its signal handlers are in place)."""
        await until(
            lambda: any("outbox sender started" in line for line in self.log),
            timeout_s=timeout_s,
            what="the worker to start",
        )

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


__all__ = ["channels", "google", "loop_lag", "sender_settings"]
