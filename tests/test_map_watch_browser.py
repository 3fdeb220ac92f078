"""The officers' map shows the elders to watch, in headless Chromium against `phikat
serve`: check-ins missed, late and paused, a safe zone with no recent position
("unknown"), and a wander alert whose incident draws the elder's track on the map."""

import math
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.demo import seed_demo
from core.settings import Settings
from core.uow import unit_of_work
from dispatch.checkins.models import CheckinPlan
from dispatch.enums import ACTIVE_STATES
from dispatch.models import Incident
from tests.factories import bearer
from tests.live_support import ServerProcess, running_server
from tests.test_map_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.slow
Maker = async_sessionmaker[AsyncSession]


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[ServerProcess]:
    with running_server(settings, PHIKAT_MAP_TILES_URL="") as process:
        yield process


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with async_playwright() as playwright:
        browser: Browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        context = await browser.new_context(
            viewport={"width": 1280, "height": 800}, timezone_id="Asia/Bangkok"
        )
        yield await context.new_page()
        await browser.close()


def walk_away(home: dict[str, float], now: datetime) -> list[dict[str, Any]]:
    """At home, then 7 fixes a minute apart, each further away (up to 1.4 km north)."""
    fixes = [{"lat": home["lat"], "lon": home["lon"], "accuracy_m": 12, "minutes_ago": 9}]
    for i in range(1, 8):
        fixes.append(
            {
                "lat": home["lat"] + i * 200 / 110_700,
                "lon": home["lon"] + i * 20 / (110_700 * math.cos(math.radians(home["lat"]))),
                "accuracy_m": 12,
                "minutes_ago": 9 - i,
            }
        )
    return [
        {
            "lat": f["lat"],
            "lon": f["lon"],
            "accuracy_m": f["accuracy_m"],
            "captured_at": (now - timedelta(minutes=f.pop("minutes_ago"))).isoformat(),
        }
        for f in fixes
    ]


async def test_the_map_lists_the_elders_to_watch_and_draws_a_wanderers_track(
    page: Page, server: ServerProcess, sessionmaker: Maker
) -> None:
    password = "demo-" + uuid.uuid4().hex[:8]
    async with unit_of_work(sessionmaker) as session:
        logins = await seed_demo(session, password=password)
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
        form = {"username": logins.officer_email, "password": password}
        token = (await http.post("/v1/auth/token", data=form)).json()["access_token"]
        officer = bearer(token)
        org = (await http.get("/v1/me", headers=officer)).json()["organization_id"]
        elders = (await http.get(f"/v1/orgs/{org}/elders", headers=officer)).json()
        # The demo organization is shared with the other map tests: the wanderer is an
        # elder they left with no active incident (else the alert would join it).
        async with sessionmaker() as session:
            busy = {
                str(e)
                for e in await session.scalars(
                    select(Incident.elder_id).where(Incident.state.in_(ACTIVE_STATES))
                )
            }
        wanderer = next(e for e in elders if e["id"] not in busy)
        others = [e for e in elders if e is not wanderer]
        assert len(others) >= 3
        missed, late, paused = others[:3]
        for elder in (missed, late, paused):
            body: dict[str, Any] = {"times": ["09:00"]}
            if elder is paused:
                body["paused_until"] = (datetime.now(UTC) + timedelta(days=3)).isoformat()
            r = await http.put(f"/v1/elders/{elder['id']}/checkin-plan", json=body, headers=officer)
            assert r.status_code == 200, r.text
        # Where the worker would have brought them (the flow itself: tests/test_checkins.py).
        now = datetime.now(UTC)
        async with unit_of_work(sessionmaker) as session:
            await session.execute(
                update(CheckinPlan)
                .where(CheckinPlan.elder_id == uuid.UUID(missed["id"]))
                .values(due_at=now - timedelta(minutes=20), stage="family_told")
            )
            await session.execute(
                update(CheckinPlan)
                .where(CheckinPlan.elder_id == uuid.UUID(late["id"]))
                .values(due_at=now - timedelta(minutes=5))
            )

        zone = {"name": "รอบบ้าน", "kind": "circle", "circle": {"radius_m": 200}}
        made = await http.post(
            f"/v1/elders/{wanderer['id']}/safe-zones", json=zone, headers=officer
        )
        assert made.status_code == 201, made.text
        device = (
            await http.post(f"/v1/elders/{wanderer['id']}/device-tokens", headers=officer)
        ).json()["device_token"]
        home = (await http.get(f"/v1/elders/{wanderer['id']}", headers=officer)).json()["home"]

        await page.goto(f"{server.http}/map")
        await page.fill("input[name=username]", logins.officer_email)
        await page.fill("input[name=password]", password)
        await page.click("#login button[type=submit]")
        await expect(page.locator("#live")).to_have_class("live on", timeout=10_000)

        watch = page.locator("#watch")
        await expect(watch.locator(f'[data-watch="{missed["id"]}"]')).to_have_attribute(
            "data-checkin", "missed"
        )
        await expect(watch.locator(f'[data-watch="{missed["id"]}"]')).to_contain_text(
            "ไม่ได้รายงานตัว"
        )
        await expect(watch.locator(f'[data-watch="{late["id"]}"]')).to_have_attribute(
            "data-checkin", "late"
        )
        await expect(watch.locator(f'[data-watch="{paused["id"]}"]')).to_have_attribute(
            "data-checkin", "paused"
        )
        # A safe zone and no position yet: "unknown", shown, never an alert.
        wander_row = watch.locator(f'[data-watch="{wanderer["id"]}"][data-wander]')
        await expect(wander_row).to_have_attribute("data-wander", "unknown")
        await expect(wander_row).to_contain_text("ตำแหน่งไม่แน่ชัด")

        # The elder walks away: the alert opens an incident, the list follows live.
        posted = await http.post(
            "/v1/elders/me/positions",
            json={"fixes": walk_away(home, datetime.now(UTC))},
            headers=bearer(device),
        )
        assert posted.status_code == 200, posted.text
        incident = posted.json()["incident_id"]
        assert incident is not None
        await expect(wander_row).to_have_attribute("data-wander", "outside", timeout=15_000)
        listed = page.locator('#incidents [data-trigger="wander"]')
        await expect(listed).to_have_count(1, timeout=15_000)

        await wander_row.click()
        await expect(page.locator("#detail h2 [data-trigger=wander]")).to_be_visible(
            timeout=15_000
        )
        await expect(page.locator("path.wander-track")).to_have_count(1, timeout=15_000)
        # Back to the list: the track goes with the incident.
        await page.click("#back")
        await expect(page.locator("path.wander-track")).to_have_count(0, timeout=15_000)

        await page.click("#lang")
        await expect(watch.locator(f'[data-watch="{missed["id"]}"]')).to_contain_text(
            "check-in missed", timeout=15_000
        )
        await expect(wander_row).to_contain_text("left the safe zone", timeout=15_000)
