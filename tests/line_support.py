"""Shared by the LINE tests: the fake Messaging API as a fixture, the organization's
account set through the API, signed webhook calls, and linking a contact end to end."""

import secrets
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notifications.channels.line import LineChannel
from notifications.channels.log import LogChannel
from notifications.models import OutboxMessage
from notifications.sender import Channels
from tests.factories import World
from tests.fake_line import FakeLine, FakeLineServer, sign, text_event, webhook_body

Maker = async_sessionmaker[AsyncSession]


@pytest.fixture(scope="module")
def line() -> Iterator[FakeLine]:
    with FakeLineServer() as fake:
        yield fake


@pytest.fixture
async def line_replies(app: FastAPI, line: FakeLine) -> AsyncIterator[LineChannel]:
    """The app's LINE channel (its webhook replies) pointed at the fake for one test."""
    channels: Channels = app.state.channels
    real = channels.line
    channel = LineChannel(api_url=line.url)
    channels.line = channel
    try:
        yield channel
    finally:
        channels.line = real
        await channel.close()


@pytest.fixture
async def line_channels(line: FakeLine) -> AsyncIterator[Channels]:
    """What a sender uses: the real LINE channel (SDK) against the fake; SMS logged."""
    built = Channels(
        push=LogChannel("push"), sms=LogChannel("sms"), line=LineChannel(api_url=line.url)
    )
    yield built
    await built.close()


@dataclass(frozen=True)
class Account:
    org_id: uuid.UUID
    secret: str
    token: str


async def set_up_account(client: httpx.AsyncClient, world: World, line: FakeLine) -> Account:
    secret, token = secrets.token_hex(16), f"tok-{secrets.token_urlsafe(24)}"
    response = await client.put(
        f"/v1/orgs/{world.org_id}/line-account",
        json={"channel_secret": secret, "access_token": token, "basic_id": "@phikat-test"},
        headers=world.officer,
    )
    assert response.status_code == 200, response.text
    line.tokens.add(token)
    return Account(world.org_id, secret, token)


async def webhook(
    client: httpx.AsyncClient, account: Account, *events: dict[str, Any], secret: str | None = None
) -> httpx.Response:
    body = webhook_body(*events)
    return await client.post(
        f"/v1/line/webhook/{account.org_id}",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Line-Signature": sign(secret or account.secret, body),
        },
    )


async def new_code(client: httpx.AsyncClient, world: World, contact: int = 0) -> str:
    response = await client.post(
        f"/v1/elders/{world.elder_id}/contacts/line-code",
        json={"contact": contact},
        headers=world.officer,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["code"])


async def link(
    client: httpx.AsyncClient, world: World, account: Account, user: str, contact: int = 0
) -> str:
    """The family member sends the officer's code from LINE; returns the reply token."""
    code = await new_code(client, world, contact)
    reply_token = f"rt-{uuid.uuid4().hex}"
    response = await webhook(client, account, text_event(user, reply_token, code))
    assert response.status_code == 200, response.text
    return reply_token


def line_user(prefix: str = "U") -> str:
    return f"{prefix}{uuid.uuid4().hex}"


async def outbox(sessionmaker: Maker, incident_id: str | uuid.UUID) -> list[OutboxMessage]:
    async with sessionmaker() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.incident_id == uuid.UUID(str(incident_id)))
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
        )
        return list(rows)


def family(rows: list[OutboxMessage], route: str | None = None) -> list[OutboxMessage]:
    return [
        r
        for r in rows
        if r.recipient_phone is not None
        and r.recipient_elder_id is not None
        and (route is None or r.route == route)
    ]


__all__ = ["line", "line_channels", "line_replies"]
