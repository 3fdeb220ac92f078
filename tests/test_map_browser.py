"""The officers' map and reports pages in real headless Chromium (Debian's), driven by
Playwright, against `phikat serve` on loopback with real PostGIS."""

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, async_playwright, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.demo import seed_demo
from core.settings import Settings
from core.uow import unit_of_work
from tests.dispatch_helpers import sos
from tests.factories import PASSWORD, World, bearer
from tests.live_support import ServerProcess, running_server

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As root in a sandboxed machine, with no network beyond loopback.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
DOCS = Path(__file__).resolve().parent.parent / "docs"


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[ServerProcess]:
    # No tile server here: the map must still show zones and points on a plain background.
    with running_server(settings, PHIKAT_MAP_TILES_URL="") as process:
        yield process


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    yield page
    await context.close()


async def log_in(page: Page, server: ServerProcess, world: World) -> None:
    await page.goto(f"{server.http}/map")
    await page.fill("input[name=username]", f"officer@{world.org_code}.example.org")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("#login button[type=submit]")
    await expect(page.locator("#live")).to_have_class("live on", timeout=10_000)


def marker(page: Page, incident_id: str) -> Locator:
    return page.locator(f'[data-incident="{incident_id}"]')


async def test_an_sos_appears_live_and_changes_colour_when_accepted(
    page: Page, server: ServerProcess, client: httpx.AsyncClient, world: World
) -> None:
    await log_in(page, server, world)
    assert await page.locator("path.leaflet-interactive").count() == 2  # North and South
    await expect(page.locator(".zone-label", has_text="North")).to_be_visible()
    await expect(page.locator(f'[data-responder="{world.responder_id}"]')).to_be_visible()

    incident = await sos(client, world)
    await expect(marker(page, incident)).to_have_class("incident state-dispatching", timeout=2_000)
    assert "SOS" in await page.title()
    accepted = await client.post(f"/v1/incidents/{incident}/accept", headers=world.responder)
    assert accepted.status_code == 200
    await expect(marker(page, incident)).to_have_class("incident state-accepted", timeout=2_000)

    await marker(page, incident).click()
    await expect(page.locator("#detail h2")).to_contain_text("ยายสมศรี")
    accepted_line = page.locator('#detail .timeline [data-event="incident.accepted"]')
    await expect(accepted_line).to_contain_text("มีผู้รับเหตุแล้ว")  # not the raw name
    await expect(page.locator("#detail")).to_contain_text("Penicillin")  # officers see it


async def test_a_dropped_socket_catches_up_without_a_reload(
    page: Page, server: ServerProcess, client: httpx.AsyncClient, world: World
) -> None:
    await log_in(page, server, world)
    await page.evaluate("window.phikat.reconnectDelayMs = 1500; window.phikat.dropSocket()")
    await expect(page.locator("#live")).to_have_class("live off", timeout=2_000)
    incident = await sos(client, world)  # committed while the map is disconnected
    await expect(marker(page, incident)).to_be_visible(timeout=5_000)
    assert await page.evaluate("window.phikat.reconnects") == 1
    assert await page.evaluate("performance.getEntriesByType('navigation').length") == 1


async def test_the_officer_acts_from_the_panel_and_switches_language(
    page: Page, server: ServerProcess, client: httpx.AsyncClient, world: World
) -> None:
    await log_in(page, server, world)
    incident = await sos(client, world)
    await marker(page, incident).click()
    await page.click("#detail [data-action=escalate]")
    await expect(page.locator("#detail")).to_contain_text("2", timeout=3_000)
    await page.click("#lang")
    await expect(page.locator("#detail button[data-action=assign]")).to_have_text("Assign")
    await page.click("#detail [data-action=assign]")  # the first responder in the list
    await expect(marker(page, incident)).to_have_class("incident state-accepted", timeout=3_000)


async def test_the_reports_page_draws_its_chart(
    page: Page, server: ServerProcess, client: httpx.AsyncClient, world: World
) -> None:
    await log_in(page, server, world)
    await sos(client, world)
    await page.goto(f"{server.http}/map/reports")
    await expect(page.locator("#summary")).to_contain_text("incidents", timeout=5_000)
    assert await page.evaluate("Chart.getChart('chart').data.datasets.length") == 2
    await expect(page.locator("#zones tr")).to_have_count(2)  # header + North


async def test_screenshot_of_the_demo(
    page: Page, server: ServerProcess, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """The demo's map, written to docs/map.png when PHIKAT_WRITE_SCREENSHOT=1."""
    password = "demo-" + uuid.uuid4().hex[:8]
    async with unit_of_work(sessionmaker) as session:
        logins = await seed_demo(session, password=password)
    async with httpx.AsyncClient(base_url=server.http) as http:

        async def login(email: str) -> dict[str, str]:
            form = {"username": email, "password": password}
            return bearer((await http.post("/v1/auth/token", data=form)).json()["access_token"])

        officer = await login(logins.officer_email)
        org = (await http.get("/v1/me", headers=officer)).json()["organization_id"]
        elders = (await http.get(f"/v1/orgs/{org}/elders", headers=officer)).json()
        responders = (await http.get(f"/v1/orgs/{org}/responders", headers=officer)).json()
        emails = {r["id"]: r["email"] for r in responders}
        opened = []
        for elder in elders[1:5]:  # four SOS in four villages
            device = (
                await http.post(f"/v1/elders/{elder['id']}/device-tokens", headers=officer)
            ).json()["device_token"]
            sent = await http.post(
                "/v1/sos",
                json={"trigger": "button"},
                headers={**bearer(device), "Idempotency-Key": str(uuid.uuid4())},
            )
            opened.append(sent.json()["incident_id"])
        # One accepted, one on scene: three colours on the map.
        for incident, steps in ((opened[0], ("accept",)), (opened[1], ("accept", "arrive"))):
            detail = (await http.get(f"/v1/incidents/{incident}", headers=officer)).json()
            pending = [o for o in detail["offers"] if o["state"] == "pending"]
            if not pending:
                continue
            headers = await login(emails[pending[0]["responder_id"]])
            for step in steps:
                await http.post(f"/v1/incidents/{incident}/{step}", headers=headers)
    await page.goto(f"{server.http}/map")
    await page.fill("input[name=username]", logins.officer_email)
    await page.fill("input[name=password]", password)
    await page.click("#login button[type=submit]")
    await expect(page.locator("#live")).to_have_class("live on", timeout=10_000)
    await expect(page.locator(".zone-label")).to_have_count(8)
    target = DOCS / "map.png" if os.environ.get("PHIKAT_WRITE_SCREENSHOT") else None
    shot = await page.screenshot(path=str(target) if target else None)
    assert len(shot) > 10_000
