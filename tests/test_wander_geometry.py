"""The accuracy-circle shares computed in PostGIS agree with the exact circle formula."""

import math

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.wander.geometry import circle_zone, fix_fractions
from tests.wander_sim import SimFix, fractions

HOME_LAT, HOME_LON = 16.88, 103.26
M_PER_DEG_LAT = 110_700.0  # near 17 N, good to a few tenths of a percent here


def _lonlat(x: float, y: float) -> tuple[float, float]:
    lat = HOME_LAT + y / M_PER_DEG_LAT
    lon = HOME_LON + x / (M_PER_DEG_LAT * math.cos(math.radians(HOME_LAT)))
    return lat, lon


@pytest.mark.parametrize(
    ("x", "acc"), [(0, 50), (150, 60), (200, 30), (240, 80), (260, 40), (400, 25), (90, 500)]
)
async def test_postgis_shares_match_the_exact_circle_formula(
    db: AsyncSession, x: float, acc: float
) -> None:
    zone = await circle_zone(db, lat=HOME_LAT, lon=HOME_LON, radius_m=200)
    lat, lon = _lonlat(x, 0)
    got = await fix_fractions(
        db, lat=lat, lon=lon, accuracy_m=acc, zone_geojson=zone, leave_m=50, enter_m=20
    )
    want_out, want_in = fractions(SimFix(None, x, 0, acc), 200, 50, 20)  # type: ignore[arg-type]
    assert got.outside == pytest.approx(want_out, abs=0.03)
    assert got.inside == pytest.approx(want_in, abs=0.03)


async def test_a_margin_larger_than_the_zone_leaves_no_inside(db: AsyncSession) -> None:
    zone = await circle_zone(db, lat=HOME_LAT, lon=HOME_LON, radius_m=15)
    got = await fix_fractions(
        db, lat=HOME_LAT, lon=HOME_LON, accuracy_m=10, zone_geojson=zone, leave_m=50, enter_m=20
    )
    assert got.inside == 0.0 and got.outside == 0.0
