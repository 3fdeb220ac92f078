"""Zone matching in PostGIS: holes, multipolygons, borders, overlaps, GPS accuracy."""

import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from core.tenancy.schemas import OrganizationCreate
from core.tenancy.service import create_organization
from geo.repository import match_zones
from geo.service import import_zones
from tests.factories import collection, feature, square

# ~110 m of latitude
D = 0.001


async def org_with(
    db: AsyncSession, *features: dict[str, Any]
) -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
    org = await create_organization(
        db, data=OrganizationCreate(name="Zones", code=f"z-{uuid.uuid4().hex[:8]}")
    )
    result = await import_zones(
        db, organization_id=org.id, document=collection(*features), repair=False
    )
    names = [f["properties"]["name"] for f in features]
    return org.id, dict(zip(names, result.ids, strict=True))


async def best(
    db: AsyncSession, org_id: uuid.UUID, lat: float, lon: float, accuracy_m: float = 0
) -> list[str]:
    return [m.name for m in await match_zones(db, org_id, lat=lat, lon=lon, accuracy_m=accuracy_m)]


async def test_point_inside_a_polygon_matches_it(db: AsyncSession) -> None:
    org, _ = await org_with(db, feature("A", square(103.25, 16.88, 103.26, 16.89)))
    assert await best(db, org, 16.885, 103.255) == ["A"]
    assert await best(db, org, 16.895, 103.255) == []


async def test_hole_is_not_part_of_the_zone(db: AsyncSession) -> None:
    ring = square(103.25, 16.88, 103.26, 16.89) + square(103.254, 16.884, 103.256, 16.886)
    org, _ = await org_with(
        db, feature("Ring", ring), feature("Island", square(103.254, 16.884, 103.256, 16.886))
    )
    assert await best(db, org, 16.885, 103.255) == ["Island"]
    assert await best(db, org, 16.881, 103.251) == ["Ring"]


async def test_multipolygon_matches_in_every_part(db: AsyncSession) -> None:
    parts = [square(103.20, 16.80, 103.21, 16.81), square(103.30, 16.90, 103.31, 16.91)]
    org, _ = await org_with(db, feature("Split", parts, geometry_type="MultiPolygon"))
    assert await best(db, org, 16.805, 103.205) == ["Split"]
    assert await best(db, org, 16.905, 103.305) == ["Split"]
    assert await best(db, org, 16.85, 103.25) == []


async def test_point_on_a_shared_border_matches_one_zone_deterministically(
    db: AsyncSession,
) -> None:
    # West and East are congruent (same latitudes), so only the id can decide.
    org, ids = await org_with(
        db,
        feature("West", square(103.24, 16.88, 103.25, 16.89)),
        feature("East", square(103.25, 16.88, 103.26, 16.89)),
    )
    matches = await match_zones(db, org, lat=16.885, lon=103.25)
    assert {m.name for m in matches} == {"West", "East"}  # both cover the border
    assert all(m.covers for m in matches)
    assert matches[0].area_m2 == pytest.approx(matches[1].area_m2, abs=1)
    expected = min(ids.values())
    for _ in range(5):
        again = await match_zones(db, org, lat=16.885, lon=103.25)
        assert again[0].id == expected


async def test_border_between_latitudes_goes_to_the_smaller_zone(db: AsyncSession) -> None:
    # A degree of longitude shrinks northwards: North is the smaller of the two.
    org, _ = await org_with(
        db,
        feature("North", square(103.25, 16.88, 103.26, 16.89)),
        feature("South", square(103.25, 16.87, 103.26, 16.88)),
    )
    for _ in range(3):
        assert await best(db, org, 16.88, 103.255) == ["North", "South"]


async def test_border_point_goes_to_the_smaller_zone_when_areas_differ(db: AsyncSession) -> None:
    org, _ = await org_with(
        db,
        feature("Big", square(103.20, 16.88, 103.26, 16.95)),
        feature("Small", square(103.26, 16.88, 103.27, 16.89)),
    )
    assert (await best(db, org, 16.885, 103.26))[0] == "Small"


async def test_overlaps_order_by_priority_then_smallest_area(db: AsyncSession) -> None:
    org, _ = await org_with(
        db,
        feature("District", square(103.20, 16.80, 103.30, 16.90)),
        feature("Village", square(103.25, 16.85, 103.26, 16.86)),
        feature("LTC cluster", square(103.24, 16.84, 103.27, 16.87), priority=5),
    )
    assert await best(db, org, 16.855, 103.255) == ["LTC cluster", "Village", "District"]
    assert await best(db, org, 16.865, 103.265) == ["LTC cluster", "District"]
    assert await best(db, org, 16.81, 103.21) == ["District"]


async def test_accuracy_reaches_nearby_zones_nearest_first(db: AsyncSession) -> None:
    # Two villages with a gap between them; the point is 0.5*D from A, 1.5*D from B.
    org, _ = await org_with(
        db,
        feature("A", square(103.25, 16.880, 103.26, 16.890)),
        feature("B", square(103.25, 16.892, 103.26, 16.900)),
    )
    lat = 16.8905
    assert await best(db, org, lat, 103.255, accuracy_m=0) == []
    assert await best(db, org, lat, 103.255, accuracy_m=20) == []
    assert await best(db, org, lat, 103.255, accuracy_m=100) == ["A"]
    assert await best(db, org, lat, 103.255, accuracy_m=300) == ["A", "B"]


async def test_the_zone_covering_the_point_beats_one_merely_within_accuracy(
    db: AsyncSession,
) -> None:
    org, _ = await org_with(
        db,
        feature("Covering", square(103.25, 16.880, 103.26, 16.890)),
        feature("Near, high priority", square(103.25, 16.8902, 103.26, 16.9), priority=100),
    )
    assert (await best(db, org, 16.8899, 103.255, accuracy_m=200))[0] == "Covering"


async def test_other_organizations_zones_never_match(db: AsyncSession) -> None:
    org_a, _ = await org_with(db, feature("A", square(103.25, 16.88, 103.26, 16.89)))
    org_b, _ = await org_with(db, feature("B", square(103.25, 16.88, 103.26, 16.89)))
    assert await best(db, org_a, 16.885, 103.255) == ["A"]
    assert await best(db, org_b, 16.885, 103.255) == ["B"]


@pytest.mark.parametrize(("lat", "lon"), [(16.885, 103.255), (16.8801, 103.2599)])
async def test_match_reports_distance_and_area(db: AsyncSession, lat: float, lon: float) -> None:
    org, _ = await org_with(db, feature("A", square(103.25, 16.88, 103.26, 16.89)))
    (match,) = await match_zones(db, org, lat=lat, lon=lon)
    assert match.covers and match.distance_m == 0
    # 0.01° x 0.01° at 16.88 N is about 1.18 km²
    assert match.area_m2 == pytest.approx(1.18e6, rel=0.02)
