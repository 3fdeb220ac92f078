"""The incident panel of the officers' map, in real headless Chromium (Debian's) driven by
Playwright, against `phikat serve` on loopback with the Tha Khantho demo seeded in PostGIS:
the timeline reads in Thai (and English), never as raw event names, and the medical facts
an elder does not have leave no empty label behind.

With PHIKAT_WRITE_SCREENSHOT=1 the test writes docs/img/map-thai-timeline.png."""

import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api import demo_data
from api.demo import seed_demo
from core.events.catalogue import EventName
from core.settings import Settings
from core.uow import unit_of_work
from tests.factories import bearer
from tests.live_support import ServerProcess, running_server
from tests.test_map_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.slow
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "img" / "map-thai-timeline.png"
MAX_SCREENSHOT_BYTES = 300_000


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[ServerProcess]:
    # No tile server: a plain background (and a small PNG).
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
    # Thai first, as the officers see it; a fixed clock format for the screenshot.
    context = await browser.new_context(
        viewport={"width": 1280, "height": 800}, locale="th-TH", timezone_id="Asia/Bangkok"
    )
    page = await context.new_page()
    yield page
    await context.close()


def elder_without_medications_or_allergies() -> str:
    """A demo elder (unique name) with conditions and a blood type but no medication and
    no allergy: the panel must show neither label."""
    elders = demo_data.elders(demo_data.zones())
    names = Counter(e.name for e in elders)
    return next(
        e.name
        for e in elders
        if not e.medications and not e.allergies and e.conditions and names[e.name] == 1
    )


async def test_the_thai_timeline_names_every_event_and_hides_empty_medical_fields(
    page: Page, server: ServerProcess, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    password = "demo-" + uuid.uuid4().hex[:8]
    async with unit_of_work(sessionmaker) as session:
        logins = await seed_demo(session, password=password)
    name = elder_without_medications_or_allergies()
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:

        async def login(email: str) -> dict[str, str]:
            form = {"username": email, "password": password}
            return bearer((await http.post("/v1/auth/token", data=form)).json()["access_token"])

        officer = await login(logins.officer_email)
        org = (await http.get("/v1/me", headers=officer)).json()["organization_id"]
        elder = next(
            e
            for e in (await http.get(f"/v1/orgs/{org}/elders", headers=officer)).json()
            if e["name"] == name
        )
        responders = (await http.get(f"/v1/orgs/{org}/responders", headers=officer)).json()
        emails = {r["id"]: r["email"] for r in responders}
        device = (
            await http.post(f"/v1/elders/{elder['id']}/device-tokens", headers=officer)
        ).json()["device_token"]
        sent = await http.post(
            "/v1/sos",
            json={"trigger": "fall"},
            headers={**bearer(device), "Idempotency-Key": str(uuid.uuid4())},
        )
        assert sent.status_code == 201, sent.text
        incident = sent.json()["incident_id"]
        # Every offered phone confirms; the first declines, the next accepts, rides, arrives.
        offers = (await http.get(f"/v1/incidents/{incident}", headers=officer)).json()["offers"]
        assert len(offers) >= 2, offers
        phones = {o["responder_id"]: await login(emails[o["responder_id"]]) for o in offers}
        for offer in offers:
            received = await http.post(
                f"/v1/offers/{offer['id']}/received", headers=phones[offer["responder_id"]]
            )
            assert received.status_code == 204, received.text
        declined = await http.post(
            f"/v1/incidents/{incident}/decline", headers=phones[offers[0]["responder_id"]]
        )
        assert declined.status_code == 204, declined.text
        rider = phones[offers[1]["responder_id"]]
        accepted = await http.post(f"/v1/incidents/{incident}/accept", headers=rider)
        assert accepted.status_code == 200, accepted.text
        home = elder["home"]
        for step in (3, 2, 1):  # a ride: three position reports, folded into one line
            moved = await http.post(
                "/v1/responders/me/location",
                headers=rider,
                json={"lat": home["lat"] + step * 0.002, "lon": home["lon"], "accuracy_m": 8},
            )
            assert moved.status_code in (200, 202, 204), moved.text
        arrived = await http.post(f"/v1/incidents/{incident}/arrive", headers=rider)
        assert arrived.status_code == 200, arrived.text
        detail = (await http.get(f"/v1/incidents/{incident}", headers=officer)).json()
    raw_names = {e["event"] for e in detail["events"]}
    assert {"incident.opened", "offer.sent", "offer.received", "offer.declined"} <= raw_names
    assert {"incident.accepted", "responder.location", "incident.on_scene"} <= raw_names

    await page.goto(f"{server.http}/map")
    await page.fill("input[name=username]", logins.officer_email)
    await page.fill("input[name=password]", password)
    await page.click("#login button[type=submit]")
    await expect(page.locator("#live")).to_have_class("live on", timeout=10_000)
    await page.locator(f'[data-incident="{incident}"]').click()
    timeline = page.locator("#detail .timeline li")
    await expect(page.locator("#detail h2")).to_contain_text(name)
    await expect(timeline.first).to_be_visible()

    texts = await timeline.all_inner_texts()
    shown = "\n".join(texts)
    for event in EventName:  # no raw name anywhere in the timeline
        assert event.value not in shown, shown
    assert "แจ้งเหตุ SOS" in shown and "ส่งคำขอช่วยเหลือ" in shown, shown
    assert "ผู้ช่วยเหลือได้รับคำขอแล้ว" in shown and "ถึงที่เกิดเหตุ" in shown, shown
    # Each line keeps its raw name for the curious (a tooltip); consecutive positions fold.
    events = await timeline.evaluate_all("items => items.map(i => i.dataset.event)")
    assert set(events) == raw_names
    assert events.count("responder.location") == 1
    assert "(×3)" in texts[events.index("responder.location")]
    # Offer states are translated too.
    await expect(page.locator("#detail")).to_contain_text("ปฏิเสธ")
    assert "declined" not in await page.locator("#detail").inner_text()

    medical = page.locator("#detail .medical")
    await expect(medical).to_contain_text("โรคประจำตัว")
    await expect(medical).to_contain_text("กรุ๊ปเลือด")
    medical_text = await medical.inner_text()
    assert ";" not in medical_text and "ยา:" not in medical_text and "แพ้" not in medical_text
    assert await page.locator("#detail [data-medical]").evaluate_all(
        "spans => spans.map(s => s.dataset.medical)"
    ) == ["conditions", "bloodType"]

    # Tall enough for the whole panel, the timeline included.
    panel = await page.locator("#panel").evaluate("p => p.scrollHeight + p.offsetTop")
    await page.set_viewport_size({"width": 1280, "height": max(800, int(panel) + 8)})
    shot = await page.screenshot()
    assert 10_000 < len(shot) < MAX_SCREENSHOT_BYTES
    if os.environ.get("PHIKAT_WRITE_SCREENSHOT"):
        SCREENSHOT.parent.mkdir(exist_ok=True)
        SCREENSHOT.write_bytes(shot)

    await page.click("#lang")  # and in English
    await expect(timeline.first).to_contain_text("SOS received")
    english = "\n".join(await timeline.all_inner_texts())
    assert "Offer sent" in english and "On scene" in english, english
    assert not any(event.value in english for event in EventName), english
    await expect(medical).to_contain_text("Conditions")
