"""Security headers on the pages and the API; CORS only for the origins configured."""

from collections.abc import AsyncIterator

import httpx
import pytest

from api.app import create_app
from api.security_headers import page_policy, tile_source
from core.settings import Settings


async def test_pages_carry_a_content_security_policy(client: httpx.AsyncClient) -> None:
    page = await client.get("/map")
    policy = page.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "img-src 'self' data: blob: https://tile.openstreetmap.org" in policy
    assert page.headers["x-frame-options"] == "DENY"
    api = await client.get("/healthz")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert api.headers["referrer-policy"] == "no-referrer"
    assert "content-security-policy" not in api.headers  # JSON needs none


def test_tile_sources() -> None:
    assert (
        tile_source("https://{s}.tile.example.org/{z}/{x}/{y}.png") == "https://*.tile.example.org"
    )
    assert tile_source("") == "" and "img-src 'self' data: blob:;" in page_policy(None) + ";"


@pytest.fixture
async def cors_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"cors_origins": ["https://ems.example.org"]}))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://phikat.test") as c:
        yield c


async def test_cors_allows_only_the_configured_origins(cors_client: httpx.AsyncClient) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,idempotency-key",
    }
    ok = await cors_client.options(
        "/v1/sos", headers={"Origin": "https://ems.example.org", **preflight}
    )
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://ems.example.org"
    other = await cors_client.options(
        "/v1/sos", headers={"Origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in other.headers


async def test_no_cors_by_default(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"Origin": "https://ems.example.org"})
    assert "access-control-allow-origin" not in response.headers
