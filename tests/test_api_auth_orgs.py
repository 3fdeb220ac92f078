"""Organizations, officers, login and tokens over HTTP."""

import uuid

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.settings import Settings
from core.tenancy.login import lock_seconds
from core.tenancy.models import Role, User
from core.uow import unit_of_work
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.factories import PASSWORD, World, bearer, staff_token
from tests.helpers import assert_problem


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/v1/auth/token", data={"username": email, "password": password})


async def admin_headers(client: httpx.AsyncClient) -> dict[str, str]:
    response = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert response.status_code == 200, response.text
    return bearer(response.json()["access_token"])


async def test_bootstrap_admin_logs_in_and_creates_an_organization(
    client: httpx.AsyncClient,
) -> None:
    response = await login(client, ADMIN_EMAIL.upper(), ADMIN_PASSWORD)
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    code = f"org-{uuid.uuid4().hex[:8]}"
    created = await client.post(
        "/v1/orgs",
        json={"name": "เทศบาลตำบลทดสอบ", "code": code},
        headers=bearer(body["access_token"]),
    )
    assert created.status_code == 201, created.text
    org = created.json()
    assert org["code"] == code
    assert org["fallback_phone"] == "1669" and org["timezone"] == "Asia/Bangkok"
    assert org["created_at"].endswith("Z")
    duplicate = await client.post(
        "/v1/orgs", json={"name": "again", "code": code}, headers=bearer(body["access_token"])
    )
    assert_problem(duplicate, 409, detail=code)


async def test_organization_input_is_validated(client: httpx.AsyncClient) -> None:
    headers = await admin_headers(client)
    for body in (
        {"name": "x", "code": "Has Spaces"},
        {"name": "", "code": "okcode"},
        {"name": "x", "code": "okcode2", "timezone": "Mars/Olympus"},
        {"name": "x", "code": "okcode3", "fallback_phone": "call me"},
        {"name": "x"},
    ):
        assert_problem(await client.post("/v1/orgs", json=body, headers=headers), 422)


async def test_only_the_admin_creates_organizations(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.post(
        "/v1/orgs", json={"name": "x", "code": "nope-1"}, headers=world.officer
    )
    assert_problem(response, 403)
    assert_problem(await client.post("/v1/orgs", json={"name": "x", "code": "nope-2"}), 401)


async def test_officers_add_officers_to_their_own_organization_only(
    client: httpx.AsyncClient, world: World, other_world: World
) -> None:
    email = f"new-{uuid.uuid4().hex[:6]}@example.org"
    body = {"name": "คุณสมหญิง", "email": email.upper(), "password": "long-enough-pw"}
    created = await client.post(
        f"/v1/orgs/{world.org_id}/officers", json=body, headers=world.officer
    )
    assert created.status_code == 201, created.text
    assert created.json()["email"] == email and created.json()["role"] == "officer"
    assert "password" not in created.text and "hash" not in created.text
    assert (await login(client, email, "long-enough-pw")).status_code == 200

    assert_problem(
        await client.post(f"/v1/orgs/{world.org_id}/officers", json=body, headers=world.officer),
        409,
    )
    other = {**body, "email": f"x-{email}"}
    assert_problem(
        await client.post(
            f"/v1/orgs/{world.org_id}/officers", json=other, headers=other_world.officer
        ),
        403,
    )
    assert_problem(
        await client.post(f"/v1/orgs/{world.org_id}/officers", json=other, headers=world.responder),
        403,
    )
    for bad in ({**other, "email": "not-an-email"}, {**other, "password": "short"}):
        assert_problem(
            await client.post(f"/v1/orgs/{world.org_id}/officers", json=bad, headers=world.officer),
            422,
        )


async def test_admin_adds_officer_to_unknown_org_gets_404(client: httpx.AsyncClient) -> None:
    headers = await admin_headers(client)
    response = await client.post(
        f"/v1/orgs/{uuid.uuid4()}/officers",
        json={"name": "x", "email": "ghost@example.org", "password": "long-enough-pw"},
        headers=headers,
    )
    assert_problem(response, 404)


async def test_wrong_password_and_unknown_user_look_the_same(
    client: httpx.AsyncClient, world: World
) -> None:
    wrong = await login(client, f"officer@{world.org_code}.example.org", "wrong-password")
    unknown = await login(client, "nobody@example.org", PASSWORD)
    assert assert_problem(wrong, 401)["detail"] == assert_problem(unknown, 401)["detail"]
    assert wrong.headers["www-authenticate"] == "Bearer"
    assert_problem(await client.post("/v1/auth/token", data={"username": "x"}), 422)


async def test_expired_tampered_and_disabled_tokens_are_refused(
    client: httpx.AsyncClient,
    world: World,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    url = f"/v1/orgs/{world.org_id}/zones"
    assert (await client.get(url, headers=world.officer)).status_code == 200

    expired = staff_token(settings, world.officer_id, Role.OFFICER, world.org_id, ttl_s=-10)
    assert_problem(await client.get(url, headers=bearer(expired)), 401, detail="expired")

    token = world.officer["Authorization"].removeprefix("Bearer ")
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert_problem(await client.get(url, headers=bearer(tampered)), 401)
    assert_problem(await client.get(url, headers=bearer("garbage")), 401)
    assert_problem(await client.get(url, headers=bearer("phk_dev_nothex.secret")), 401)
    assert_problem(await client.get(url, headers={"Authorization": "Basic abc"}), 401)

    async with unit_of_work(sessionmaker) as session:
        await session.execute(
            update(User).where(User.id == world.officer_id).values(disabled_at=User.created_at)
        )
    assert_problem(await client.get(url, headers=world.officer), 401, detail="disabled")


async def test_a_token_from_another_organization_is_refused(
    client: httpx.AsyncClient, world: World, other_world: World
) -> None:
    assert_problem(
        await client.get(f"/v1/orgs/{world.org_id}/zones", headers=other_world.officer), 403
    )
    assert_problem(await client.get(f"/v1/orgs/{world.org_id}", headers=other_world.officer), 403)
    own = await client.get(f"/v1/orgs/{world.org_id}", headers=world.officer)
    assert own.status_code == 200 and own.json()["code"] == world.org_code


def test_lock_grows_from_a_minute_to_an_hour() -> None:
    assert [lock_seconds(n) for n in (1, 4, 5, 6, 7, 20)] == [0, 0, 60, 120, 240, 3600]


async def test_repeated_failed_logins_lock_the_account_for_a_while(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    email = f"officer@{world.org_code}.example.org"
    for _ in range(5):
        assert_problem(await login(client, email, "wrong-password"), 401)
    locked = await login(client, email, PASSWORD)  # even the right password waits now
    assert_problem(locked, 429, detail="too many failed logins")
    assert 55 <= int(locked.headers["retry-after"]) <= 60
    # An unknown e-mail is never "locked": that would tell which accounts exist.
    for _ in range(6):
        assert_problem(await login(client, "nobody-here@example.org", "x" * 9), 401)

    async with unit_of_work(sessionmaker) as session:
        await session.execute(
            update(User).where(User.id == world.officer_id).values(locked_until=User.created_at)
        )
    assert (await login(client, email, PASSWORD)).status_code == 200
    async with sessionmaker() as session:
        user = await session.get(User, world.officer_id)
        assert user is not None and user.failed_logins == 0 and user.locked_until is None
