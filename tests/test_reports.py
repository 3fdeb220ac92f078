"""Response-time reports and the GeoJSON export, on known timings."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.uow import unit_of_work
from dispatch.models import Incident, Offer
from tests.factories import World, add_elder, bearer
from tests.helpers import assert_problem

Maker = async_sessionmaker[AsyncSession]


async def incident_with(
    client: httpx.AsyncClient,
    sessionmaker: Maker,
    world: World,
    *,
    lat: float,
    receipt_s: float | None,
    accept_s: float | None,
    arrival_s: float | None,
) -> str:
    async with unit_of_work(sessionmaker) as session:
        _, _, token = await add_elder(session, world.org_id, name=f"E {uuid.uuid4().hex[:4]}")
    response = await client.post(
        "/v1/sos",
        json={"lat": lat, "lon": 103.255},
        headers={**bearer(token), "Idempotency-Key": str(uuid.uuid4())},
    )
    incident_id = uuid.UUID(response.json()["incident_id"])
    opened = datetime.now(UTC) - timedelta(hours=1)

    def at(seconds: float | None) -> datetime | None:
        return opened + timedelta(seconds=seconds) if seconds is not None else None

    async with unit_of_work(sessionmaker) as session:
        await session.execute(
            update(Incident)
            .where(Incident.id == incident_id)
            .values(created_at=opened, accepted_at=at(accept_s), on_scene_at=at(arrival_s))
        )
        await session.execute(
            update(Offer).where(Offer.incident_id == incident_id).values(received_at=at(receipt_s))
        )
    return str(incident_id)


async def test_response_times_overall_and_per_zone(
    client: httpx.AsyncClient, world: World, sessionmaker: Maker
) -> None:
    north, south = 16.885, 16.875
    for receipt, accept, arrival in ((5, 30, 300), (10, 60, 600), (20, 90, 900)):
        await incident_with(
            client,
            sessionmaker,
            world,
            lat=north,
            receipt_s=receipt,
            accept_s=accept,
            arrival_s=arrival,
        )
    await incident_with(
        client, sessionmaker, world, lat=south, receipt_s=None, accept_s=None, arrival_s=None
    )
    response = await client.get(
        f"/v1/orgs/{world.org_id}/reports/response-times", headers=world.officer
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["incidents"] == 4
    assert report["first_receipt"] == {"count": 3, "p50_s": 10.0, "p90_s": 18.0}
    assert report["accept"] == {"count": 3, "p50_s": 60.0, "p90_s": 84.0}
    assert report["arrival"] == {"count": 3, "p50_s": 600.0, "p90_s": 840.0}
    by_zone = {z["zone_name"]: z for z in report["zones"]}
    assert by_zone["North"]["incidents"] == 3 and by_zone["South"]["incidents"] == 1
    assert by_zone["South"]["accept"] == {"count": 0, "p50_s": None, "p90_s": None}
    earlier = await client.get(
        f"/v1/orgs/{world.org_id}/reports/response-times",
        headers=world.officer,
        params={"from": "2020-01-01T00:00:00Z", "to": "2020-02-01T00:00:00Z"},
    )
    assert earlier.json()["incidents"] == 0 and earlier.json()["zones"] == []


async def test_incidents_export_is_geojson_without_personal_data(
    client: httpx.AsyncClient, world: World, sessionmaker: Maker
) -> None:
    incident = await incident_with(
        client, sessionmaker, world, lat=16.885, receipt_s=5, accept_s=30, arrival_s=None
    )
    response = await client.get(f"/v1/orgs/{world.org_id}/incidents.geojson", headers=world.officer)
    assert response.headers["content-type"].startswith("application/geo+json")
    (feature,) = [f for f in response.json()["features"] if f["id"] == incident]
    assert feature["geometry"] == {"type": "Point", "coordinates": [103.255, 16.885]}
    assert feature["properties"]["zone_name"] == "North"
    assert feature["properties"]["created_at"].endswith("Z")
    assert "ยายสมศรี" not in response.text and "Penicillin" not in response.text


@pytest.mark.parametrize("path", ["reports/response-times", "incidents.geojson"])
async def test_reports_are_for_the_organizations_officers(
    client: httpx.AsyncClient, world: World, other_world: World, path: str
) -> None:
    url = f"/v1/orgs/{world.org_id}/{path}"
    assert_problem(await client.get(url, headers=world.responder), 403)
    assert_problem(await client.get(url, headers=other_world.officer), 403)
    assert_problem(await client.get(url, headers=world.elder), 403)
    assert_problem(
        await client.get(
            url, headers=world.officer, params={"from": "2026-02-01", "to": "2026-01-01"}
        ),
        422,
    )
    assert_problem(await client.get(url, headers=world.officer, params={"from": "soon"}), 422)
