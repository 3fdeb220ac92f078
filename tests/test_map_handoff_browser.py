"""The 1669 hand-off's status on the officers' map, in headless Chromium (Debian's)
against `phikat serve` on loopback: the server's own sender delivers the record to a
fake centre, the centre answers on the signed callback, and the incident panel follows
live: delivered (with the centre's reference), accepted, then refused with its reason,
in Thai and in English."""

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.demo import seed_demo
from core.settings import Settings
from core.uow import unit_of_work
from tests.factories import bearer
from tests.fake_centre import FakeCentre, FakeCentreServer, independent_signature
from tests.live_support import ServerProcess, running_server
from tests.test_map_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.slow
SECRET = "the-province-centre-shares-this-secret-0123456789"


@pytest.fixture(scope="module")
def centre() -> Iterator[FakeCentre]:
    with FakeCentreServer(SECRET) as fake:
        yield fake


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[ServerProcess]:
    # The worker and the outbox sender run inside serve: they deliver to the fake centre.
    with running_server(settings, PHIKAT_MAP_TILES_URL="", PHIKAT_RUN_WORKER="true") as process:
        yield process


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    async with async_playwright() as playwright:
        browser: Browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        yield await context.new_page()
        await browser.close()


def signed(body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {
        "X-Phikat-Timestamp": timestamp,
        "X-Phikat-Signature": independent_signature(SECRET, timestamp, body),
        "Content-Type": "application/json",
    }


async def test_the_panel_shows_the_hand_off_status_in_thai_and_english(
    page: Page,
    server: ServerProcess,
    centre: FakeCentre,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    password = "demo-" + uuid.uuid4().hex[:8]
    async with unit_of_work(sessionmaker) as session:
        logins = await seed_demo(session, password=password)
    async with httpx.AsyncClient(base_url=server.http, timeout=10) as http:
        form = {"username": logins.officer_email, "password": password}
        token = (await http.post("/v1/auth/token", data=form)).json()["access_token"]
        officer = bearer(token)
        org = (await http.get("/v1/me", headers=officer)).json()["organization_id"]
        configured = await http.put(
            f"/v1/orgs/{org}/handoff-centre",
            json={"url": centre.url, "secret": SECRET},
            headers=officer,
        )
        assert configured.status_code == 200, configured.text
        elder = (await http.get(f"/v1/orgs/{org}/elders", headers=officer)).json()[0]
        device = (
            await http.post(f"/v1/elders/{elder['id']}/device-tokens", headers=officer)
        ).json()["device_token"]
        sent = await http.post(
            "/v1/sos",
            json={"trigger": "button"},
            headers={**bearer(device), "Idempotency-Key": str(uuid.uuid4())},
        )
        assert sent.status_code == 201, sent.text
        incident = sent.json()["incident_id"]

        await page.goto(f"{server.http}/map")
        await page.fill("input[name=username]", logins.officer_email)
        await page.fill("input[name=password]", password)
        await page.click("#login button[type=submit]")
        await expect(page.locator("#live")).to_have_class("live on", timeout=10_000)
        await page.locator(f'[data-incident="{incident}"]').click()
        await expect(page.locator("#detail h2")).to_contain_text(elder["name"])
        status = page.locator("#detail [data-handoff]")
        await expect(status).to_have_count(0)

        page.once("dialog", lambda dialog: dialog.accept())
        await page.locator('#detail [data-action="escalate"]').click()
        # The server's sender delivers to the fake centre; its receipt reaches the panel live.
        await expect(status).to_have_attribute("data-handoff", "delivered", timeout=20_000)
        await expect(status).to_contain_text("ศูนย์ได้รับข้อมูลแล้ว")
        await expect(status).to_contain_text("C-")
        assert centre.received and centre.received[-1].signature_ok

        async def answer(status_: str, **extra: str) -> None:
            body = json.dumps(
                {
                    "incident_id": incident,
                    "answer_id": f"{incident}-{status_}",
                    "status": status_,
                    "answered_at": datetime.now(UTC).isoformat(),
                    **extra,
                }
            ).encode()
            response = await http.post(
                f"/v1/orgs/{org}/handoff/answers", content=body, headers=signed(body)
            )
            assert response.status_code == 200, response.text

        await answer("accepted", reference="KK-1669-0042")
        await expect(status).to_have_attribute("data-handoff", "accepted", timeout=10_000)
        await expect(status).to_contain_text("ศูนย์รับเหตุแล้ว")
        await expect(status).to_contain_text("KK-1669-0042")
        await answer("rejected", reason="<b>ไม่มีรถว่าง</b>")
        await expect(status).to_have_attribute("data-handoff", "rejected", timeout=10_000)
        await expect(status).to_contain_text("ศูนย์ปฏิเสธ")
        # The centre's text is shown as text, not markup.
        await expect(status.locator(".handoff-note")).to_have_text("<b>ไม่มีรถว่าง</b>")
        await expect(status).to_have_class("handoff alert")

        await page.click("#lang")
        await expect(status).to_contain_text("refused by the centre")
        await expect(status).to_contain_text("1669 centre")
