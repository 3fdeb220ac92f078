"""Linking a family contact's LINE: the officer's one-time code, sent from LINE to the
organization's Official Account, through a webhook signed with the channel secret
(the SDK's parser checks it), answered through the SDK's reply against the fake."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import func, select, update

from core.uow import unit_of_work
from dispatch.models import Elder
from notifications.line_models import LineLink, LineLinkCode
from notifications.texts import render
from tests.factories import World
from tests.fake_line import FakeLine, follow_event, sign, text_event, unfollow_event, webhook_body
from tests.helpers import assert_problem
from tests.line_support import (
    Maker,
    line,
    line_replies,
    line_user,
    link,
    new_code,
    set_up_account,
    webhook,
)

__all__ = ["line", "line_replies"]  # fixtures

ELDER = "ยายสมศรี ทดสอบ"


async def links_of(sessionmaker: Maker, elder_id: uuid.UUID) -> list[tuple[str, str]]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(LineLink.phone, LineLink.line_user_id).where(LineLink.elder_id == elder_id)
        )
        return [(phone, user) for phone, user in rows]


async def contacts(client: httpx.AsyncClient, world: World) -> list[dict[str, object]]:
    response = await client.get(f"/v1/elders/{world.elder_id}/contacts", headers=world.officer)
    assert response.status_code == 200, response.text
    body: list[dict[str, object]] = response.json()
    return body


async def test_a_family_member_links_their_line_with_the_officers_code(
    client: httpx.AsyncClient,
    world: World,
    line: FakeLine,
    line_replies: object,
    sessionmaker: Maker,
) -> None:
    account = await set_up_account(client, world, line)
    before = await contacts(client, world)
    assert before == [
        {
            "contact": 0,
            "name": "ลูกสาว",
            "relation": "daughter",
            "phone_masked": "••••••5678",
            "notify": "line",
            "routes": "sms",
            "line": {"linked": False, "linked_at": None, "code_expires_at": None},
        }
    ]
    issued = await client.post(
        f"/v1/elders/{world.elder_id}/contacts/line-code",
        json={"contact": 0},
        headers=world.officer,
    )
    assert issued.status_code == 201, issued.text
    code = issued.json()["code"]
    assert len(code) == 9 and code[4] == "-"
    assert issued.json()["add_friend_url"] == "https://line.me/R/ti/p/@phikat-test"
    assert (await contacts(client, world))[0]["line"]["code_expires_at"] is not None  # type: ignore[index]

    user = line_user()
    assert (await webhook(client, account, follow_event(user, "rt-follow"))).status_code == 200
    assert line.reply_texts("rt-follow") == [
        f"{render('line_welcome', 'th')}\n\n{render('line_welcome', 'en')}"
    ]
    # Typed by hand: lower case, a space instead of the dash.
    typed = code.lower().replace("-", " ")
    answer = await webhook(client, account, text_event(user, "rt-code", typed))
    assert answer.status_code == 200 and answer.json() == {"events": 1}
    assert line.reply_texts("rt-code") == [render("line_linked", "th", elder=ELDER)]
    assert line.replies[-1]["token"] == account.token

    assert await links_of(sessionmaker, world.elder_id) == [("0812345678", user)]
    after = (await contacts(client, world))[0]
    assert after["routes"] == "line"
    assert after["line"]["linked"] is True and after["line"]["code_expires_at"] is None  # type: ignore[index]

    # Used once: the same code from someone else links nobody.
    await webhook(client, account, text_event(line_user(), "rt-again", code))
    assert line.reply_texts("rt-again") == [
        f"{render('line_code_invalid', 'th')}\n\n{render('line_code_invalid', 'en')}"
    ]
    assert await links_of(sessionmaker, world.elder_id) == [("0812345678", user)]


async def test_a_wrong_or_expired_code_links_nothing(
    client: httpx.AsyncClient,
    world: World,
    other_world: World,
    line: FakeLine,
    line_replies: object,
    sessionmaker: Maker,
) -> None:
    account = await set_up_account(client, world, line)
    await set_up_account(client, other_world, line)
    invalid = f"{render('line_code_invalid', 'th')}\n\n{render('line_code_invalid', 'en')}"
    user = line_user()

    await new_code(client, world)
    await webhook(client, account, text_event(user, "rt-wrong", "ABCD-EFGH"))
    assert line.reply_texts("rt-wrong") == [invalid]

    expired = await new_code(client, world)
    async with unit_of_work(sessionmaker) as session:
        await session.execute(
            update(LineLinkCode)
            .where(LineLinkCode.elder_id == world.elder_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    await webhook(client, account, text_event(user, "rt-expired", expired))
    assert line.reply_texts("rt-expired") == [invalid]

    # Another organization's code, sent to this organization's account.
    theirs = await new_code(client, other_world)
    await webhook(client, account, text_event(user, "rt-theirs", theirs))
    assert line.reply_texts("rt-theirs") == [invalid]

    # Not shaped like a code: how to link.
    await webhook(client, account, text_event(user, "rt-chat", "สวัสดีค่ะ"))
    assert line.reply_texts("rt-chat") == [
        f"{render('line_welcome', 'th')}\n\n{render('line_welcome', 'en')}"
    ]
    assert await links_of(sessionmaker, world.elder_id) == []
    assert await links_of(sessionmaker, other_world.elder_id) == []


async def test_a_badly_signed_webhook_is_refused_and_links_nothing(
    client: httpx.AsyncClient,
    world: World,
    line: FakeLine,
    line_replies: object,
    sessionmaker: Maker,
) -> None:
    account = await set_up_account(client, world, line)
    code = await new_code(client, world)
    user = line_user()
    body = webhook_body(text_event(user, "rt-forged", code))
    url = f"/v1/line/webhook/{world.org_id}"
    json = {"Content-Type": "application/json"}
    attempts = {
        "another secret": {**json, "X-Line-Signature": sign("not-the-channel-secret", body)},
        "another body": {**json, "X-Line-Signature": sign(account.secret, body + b" ")},
        "no signature": json,
        "garbage": {**json, "X-Line-Signature": "%%%"},
    }
    for what, headers in attempts.items():
        response = await client.post(url, content=body, headers=headers)
        assert response.status_code == 401, what
        assert_problem(response, 401)
    signed = {**json, "X-Line-Signature": sign(account.secret, body)}
    for org in (uuid.uuid4(), (await _org_without_account(client))):  # no such account
        response = await client.post(f"/v1/line/webhook/{org}", content=body, headers=signed)
        assert_problem(response, 401)
    assert await links_of(sessionmaker, world.elder_id) == []
    assert line.reply_texts("rt-forged") == []

    # The code was not spent: LINE's own, correctly signed delivery links.
    response = await client.post(url, content=body, headers=signed)
    assert response.status_code == 200, response.text
    assert await links_of(sessionmaker, world.elder_id) == [("0812345678", user)]


async def _org_without_account(client: httpx.AsyncClient) -> uuid.UUID:
    from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD

    token = await client.post(
        "/v1/auth/token", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    org = await client.post(
        "/v1/orgs",
        json={"name": "No LINE", "code": f"noline-{uuid.uuid4().hex[:8]}"},
        headers=headers,
    )
    assert org.status_code == 201, org.text
    return uuid.UUID(org.json()["id"])


async def test_code_tries_are_limited_per_line_user(
    client: httpx.AsyncClient,
    world: World,
    line: FakeLine,
    line_replies: object,
    sessionmaker: Maker,
) -> None:
    account = await set_up_account(client, world, line)
    code = await new_code(client, world)
    guesser = line_user()
    for n in range(5):
        await webhook(client, account, text_event(guesser, f"rt-guess-{n}", "ZZZZ-ZZZZ"))
    await webhook(client, account, text_event(guesser, "rt-right", code))
    assert line.reply_texts("rt-right") == [
        f"{render('line_code_too_many', 'th')}\n\n{render('line_code_too_many', 'en')}"
    ]
    assert await links_of(sessionmaker, world.elder_id) == []
    # Someone else (the real family member) is not held back by the guesser.
    await webhook(client, account, text_event(line_user(), "rt-family", code))
    assert line.reply_texts("rt-family") == [render("line_linked", "th", elder=ELDER)]


async def test_unfollowing_the_account_unlinks(
    client: httpx.AsyncClient,
    world: World,
    line: FakeLine,
    line_replies: object,
    sessionmaker: Maker,
) -> None:
    account = await set_up_account(client, world, line)
    user = line_user()
    await link(client, world, account, user)
    assert (await contacts(client, world))[0]["routes"] == "line"
    assert (await webhook(client, account, unfollow_event(user))).status_code == 200
    assert await links_of(sessionmaker, world.elder_id) == []
    assert (await contacts(client, world))[0]["routes"] == "sms"


async def test_the_line_account_secrets_are_never_returned(
    client: httpx.AsyncClient, world: World, line: FakeLine
) -> None:
    url = f"/v1/orgs/{world.org_id}/line-account"
    assert_problem(await client.get(url, headers=world.officer), 404)
    # No account: no code (the family would have nowhere to send it).
    refused = await client.post(
        f"/v1/elders/{world.elder_id}/contacts/line-code",
        json={"contact": 0},
        headers=world.officer,
    )
    assert_problem(refused, 409)
    account = await set_up_account(client, world, line)
    shown = await client.get(url, headers=world.officer)
    assert shown.status_code == 200
    assert shown.json()["webhook_path"] == f"/v1/line/webhook/{world.org_id}"
    for response in (shown,):
        assert account.secret not in response.text and account.token not in response.text
    assert (await client.delete(url, headers=world.officer)).status_code == 204
    assert_problem(await client.get(url, headers=world.officer), 404)


async def test_each_contact_chooses_line_sms_or_both(
    client: httpx.AsyncClient, world: World, sessionmaker: Maker
) -> None:
    url = f"/v1/elders/{world.elder_id}/contacts"
    changed = await client.patch(url, json={"contact": 0, "notify": "both"}, headers=world.officer)
    assert changed.status_code == 200, changed.text
    assert changed.json()[0]["notify"] == "both" and changed.json()[0]["routes"] == "sms"
    elder = await client.get(f"/v1/elders/{world.elder_id}", headers=world.officer)
    assert elder.json()["contacts"][0]["notify"] == "both"
    no_such = await client.patch(url, json={"contact": 3, "notify": "sms"}, headers=world.officer)
    assert_problem(no_such, 422)
    bad = await client.patch(url, json={"contact": 0, "notify": "fax"}, headers=world.officer)
    assert bad.status_code == 422
    async with sessionmaker() as session:
        stored = await session.scalar(select(Elder.contacts).where(Elder.id == world.elder_id))
        assert stored is not None and stored[0]["notify"] == "both"
        assert await session.scalar(select(func.count()).select_from(LineLinkCode)) is not None
