"""Short-lived staff tokens, rotating refresh tokens, sign-out, and revoking an account."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.security import create_access_token
from core.settings import Settings
from core.tenancy.models import RefreshToken, Role, User
from core.uow import unit_of_work
from dispatch.enums import OfferState
from dispatch.models import Responder
from tests.conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.dispatch_helpers import Scene, add_responder, event_names, events, offers, sos
from tests.factories import PASSWORD, World, bearer
from tests.helpers import assert_problem

TOKEN = "/v1/auth/token"


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    response = await client.post(TOKEN, data={"username": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": token})


async def officer_email(sessionmaker: async_sessionmaker[AsyncSession], world: World) -> str:
    async with sessionmaker() as session:
        email = await session.scalar(select(User.email).where(User.id == world.officer_id))
    assert email is not None
    return email


async def test_login_gives_a_short_access_token_and_a_refresh_token(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    tokens = await login(client, world.responder_email)
    assert int(tokens["expires_in"]) == settings.access_token_ttl_s <= 900
    assert tokens["refresh_token"].startswith("phk_rt_")
    assert int(tokens["refresh_expires_in"]) == settings.refresh_token_ttl_s
    renewed = await refresh(client, tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.text
    pair = renewed.json()
    assert pair["refresh_token"] != tokens["refresh_token"]
    me = await client.get("/v1/me", headers=bearer(pair["access_token"]))
    assert me.json()["user_id"] == str(world.responder_id)


async def test_an_expired_access_token_is_refused_and_the_refresh_token_renews_it(
    client: httpx.AsyncClient, world: World, settings: Settings
) -> None:
    expired, _ = create_access_token(
        secret=settings.secret_key.get_secret_value(),
        user_id=world.responder_id,
        role="responder",
        organization_id=world.org_id,
        ttl_s=-5,
    )
    assert_problem(await client.get("/v1/me", headers=bearer(expired)), 401, detail="expired")
    tokens = await login(client, world.responder_email)
    renewed = await refresh(client, tokens["refresh_token"])
    assert (await client.get("/v1/me", headers=bearer(renewed.json()["access_token"]))).is_success


async def test_a_retry_within_the_grace_period_rotates_again_and_voids_the_lost_successor(
    client: httpx.AsyncClient, world: World
) -> None:
    first = (await login(client, world.responder_email))["refresh_token"]
    lost = (await refresh(client, first)).json()["refresh_token"]  # the answer never arrived
    retried = await refresh(client, first)
    assert retried.status_code == 200, retried.text
    assert_problem(await refresh(client, lost), 401)
    assert (await refresh(client, retried.json()["refresh_token"])).status_code == 200


async def test_a_reused_refresh_token_signs_out_the_whole_family(
    client: httpx.AsyncClient, world: World, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "refresh_reuse_grace_s", 0)
    first = (await login(client, world.responder_email))["refresh_token"]
    current = (await refresh(client, first)).json()["refresh_token"]
    assert_problem(await refresh(client, first), 401, detail="already used")
    # The thief replayed an old token: the owner's current one is revoked too.
    assert_problem(await refresh(client, current), 401)
    other_phone = (await login(client, world.responder_email))["refresh_token"]
    assert (await refresh(client, other_phone)).status_code == 200


async def test_logout_revokes_the_refresh_token(client: httpx.AsyncClient, world: World) -> None:
    tokens = await login(client, world.responder_email)
    out = await client.post("/v1/auth/logout", data={"refresh_token": tokens["refresh_token"]})
    assert out.status_code == 204
    assert_problem(await refresh(client, tokens["refresh_token"]), 401)
    # An unknown token is not an error: nothing is revealed about which tokens exist.
    unknown = await client.post("/v1/auth/logout", data={"refresh_token": "phk_rt_nope.x"})
    assert unknown.status_code == 204


@pytest.mark.parametrize(
    "form",
    [
        {"grant_type": "refresh_token"},
        {"grant_type": "client_credentials", "username": "a", "password": "b"},
        {"grant_type": "password", "username": "a@b.c"},
        {"grant_type": "refresh_token", "refresh_token": "x" * 600},
    ],
)
async def test_bad_token_forms_are_problems(
    client: httpx.AsyncClient, form: dict[str, str]
) -> None:
    assert_problem(await client.post(TOKEN, data=form), 422)


@pytest.mark.parametrize(
    "token",
    ["garbage", "phk_rt_", f"phk_rt_{uuid.uuid4().hex}.wrong", f"phk_rt_{uuid.uuid4().hex}"],
)
async def test_forged_refresh_tokens_are_refused(client: httpx.AsyncClient, token: str) -> None:
    assert_problem(await refresh(client, token), 401)


async def test_an_expired_refresh_token_is_refused(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    token = (await login(client, world.responder_email))["refresh_token"]
    async with unit_of_work(sessionmaker) as session:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == world.responder_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert_problem(await refresh(client, token), 401, detail="expired")


async def test_disabling_a_responder_revokes_every_credential_and_hands_on_their_offer(
    client: httpx.AsyncClient,
    world: World,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    scene = Scene(world)
    await add_responder(sessionmaker, settings, scene, "next", metres_north=2500)
    tokens = await login(client, world.responder_email)
    incident_id = await sos(client, world)
    assert [o.responder_id for o in await offers(sessionmaker, incident_id)] == [world.responder_id]

    disabled = await client.post(f"/v1/users/{world.responder_id}/disable", headers=world.officer)
    assert disabled.status_code == 200, disabled.text
    assert disabled.json()["disabled_at"].endswith("Z")

    headers = bearer(tokens["access_token"])
    assert_problem(await client.get("/v1/me", headers=headers), 401, detail="disabled")
    assert_problem(await client.get("/v1/responders/me/offers", headers=world.responder), 401)
    assert_problem(await refresh(client, tokens["refresh_token"]), 401)
    assert_problem(
        await client.post(TOKEN, data={"username": world.responder_email, "password": PASSWORD}),
        401,
    )
    by_responder = {o.responder_id: o.state for o in await offers(sessionmaker, incident_id)}
    assert by_responder == {
        world.responder_id: OfferState.WITHDRAWN,
        scene.responders["next"]: OfferState.PENDING,
    }
    withdrawn = [e for e in await events(sessionmaker, incident_id) if e.name == "offer.withdrawn"]
    assert withdrawn[0].data["reason"] == "responder_removed"
    async with sessionmaker() as session:
        on_duty = await session.scalar(
            select(Responder.on_duty).where(Responder.id == world.responder_id)
        )
    assert on_duty is False

    enabled = await client.post(f"/v1/users/{world.responder_id}/enable", headers=world.officer)
    assert enabled.status_code == 200 and enabled.json()["disabled_at"] is None
    await login(client, world.responder_email)


async def test_disabling_the_assigned_responder_tells_the_officers(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    incident_id = await sos(client, world)
    accepted = await client.post(f"/v1/incidents/{incident_id}/accept", headers=world.responder)
    assert accepted.status_code == 200, accepted.text
    disabled = await client.post(f"/v1/users/{world.responder_id}/disable", headers=world.officer)
    assert disabled.status_code == 200
    assert (await event_names(sessionmaker, incident_id))[-1] == "responder.removed"
    officer_view = await client.get(f"/v1/incidents/{incident_id}", headers=world.officer)
    assert officer_view.json()["events"][-1]["event"] == "responder.removed"
    elder_view = await client.get(f"/v1/incidents/{incident_id}", headers=world.elder)
    assert "responder.removed" not in [e["event"] for e in elder_view.json()["events"]]


async def test_who_may_disable_whom(
    client: httpx.AsyncClient,
    world: World,
    other_world: World,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    path = f"/v1/users/{world.responder_id}/disable"
    assert_problem(await client.post(path, headers=other_world.officer), 404)
    assert_problem(await client.post(path, headers=world.responder), 403)
    assert_problem(await client.post(path, headers=world.elder), 403)
    assert_problem(await client.post(path), 401)
    assert_problem(
        await client.post(f"/v1/users/{world.officer_id}/disable", headers=world.officer),
        409,
        detail="your own",
    )
    async with sessionmaker() as session:
        admin_id = await session.scalar(select(User.id).where(User.role == Role.ADMIN))
    assert_problem(await client.post(f"/v1/users/{admin_id}/disable", headers=world.officer), 404)
    assert_problem(
        await client.post(f"/v1/users/{uuid.uuid4()}/disable", headers=world.officer), 404
    )
    async with sessionmaker() as session:
        untouched = await session.scalar(
            select(User.disabled_at).where(User.id == world.responder_id)
        )
    assert untouched is None
    admin = await login(client, ADMIN_EMAIL, ADMIN_PASSWORD)
    by_admin = await client.post(
        f"/v1/users/{world.officer_id}/disable", headers=bearer(admin["access_token"])
    )
    assert by_admin.status_code == 200
    officer = await officer_email(sessionmaker, world)
    assert_problem(await client.post(TOKEN, data={"username": officer, "password": PASSWORD}), 401)
