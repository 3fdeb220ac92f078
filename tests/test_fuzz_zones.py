"""Generated bad input for care zones (issue 12): GeoJSON imports and point matching.

Properties of POST /v1/orgs/{org_id}/zones (with and without ``?repair=true``):
- never a 5xx;
- a document of valid features is 201, and stores exactly its features;
- a 201 stores as many zones as it names; every 4xx changes nothing in the database.
And of GET /v1/orgs/{org_id}/zones/match: any query string is a 200 or a 422.
"""

import uuid
from typing import Any
from urllib.parse import urlencode

import httpx
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from geo.models import CareZone
from tests.factories import World
from tests.fuzz_support import (
    ABSENT,
    BROKEN_COORDINATES,
    JSON_VALUES,
    LATITUDES,
    LONGITUDES,
    NASTY_TEXT,
    NUMBERS,
    TEXT,
    TOO_LARGE_FOR_A_FLOAT,
    UNSTORABLE_TEXT,
    assert_not_5xx,
    encode,
    fuzz_settings,
    note_request,
    without_absent,
)
from tests.helpers import db_fingerprint

Maker = async_sessionmaker[AsyncSession]


@st.composite
def squares(draw: st.DrawFn) -> list[list[list[float]]]:
    """A valid polygon: a closed square ring anywhere on the globe."""
    size = draw(st.floats(min_value=1e-4, max_value=1))
    x0 = draw(st.floats(min_value=-180, max_value=180 - size))
    y0 = draw(st.floats(min_value=-90, max_value=90 - size))
    x1, y1 = x0 + size, y0 + size
    return [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]


def _break_position(ring: list[list[Any]], index: int, value: Any, axis: int) -> None:
    ring[index % len(ring)][axis] = value


@st.composite
def broken_rings(draw: st.DrawFn) -> Any:
    """A polygon's coordinates, broken in one of the ways files in the wild are."""
    rings: Any = draw(squares())
    ring: list[Any] = rings[0]
    how = draw(
        st.sampled_from(
            ["coordinate", "open", "short", "bowtie", "flat", "3d", "nesting", "position", "junk"]
        )
    )
    if how == "coordinate":
        _break_position(
            ring, draw(st.integers(0, 4)), draw(BROKEN_COORDINATES), draw(st.integers(0, 1))
        )
    elif how == "open":
        ring.pop()
    elif how == "short":
        del ring[2:4]
    elif how == "bowtie":  # self-intersecting: repair splits it in two
        ring[1], ring[2] = ring[2], ring[1]
    elif how == "flat":  # no area
        rings = [[ring[0], ring[1], ring[0], ring[1]]]
    elif how == "3d":
        ring[0] = [*ring[0], draw(NUMBERS)]
    elif how == "nesting":
        rings = ring
    elif how == "position":
        ring[draw(st.integers(0, 4))] = draw(JSON_VALUES)
    else:
        rings = draw(JSON_VALUES)
    return rings


# Printable text (no control characters, no surrogates), not blank.
NAMES = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=30).filter(
    str.strip
)


# What can be wrong with one feature. "huge number" (a coordinate too large for a
# float) and "text" (a character no text column holds) are single values in a feature
# otherwise fine, so that they reach the code that has to cope with them.
FLAWS = ("name", "kind", "priority", "geometry", "shape", "coordinate", "huge number", "text")


@st.composite
def features(draw: st.DrawFn, flaws: frozenset[str]) -> dict[str, Any]:
    """A zone feature with these flaws (none: a valid one)."""
    props = {
        "name": draw(NASTY_TEXT | TEXT | JSON_VALUES) if "name" in flaws else draw(NAMES),
        "kind": draw(st.sampled_from([ABSENT, "village", "cluster"])),
        "priority": draw(st.sampled_from([ABSENT]) | st.integers(-1000, 1000)),
    }
    if "kind" in flaws:
        props["kind"] = draw(NASTY_TEXT | TEXT | JSON_VALUES)
    if "priority" in flaws:
        props["priority"] = draw(NUMBERS | JSON_VALUES)
    if "text" in flaws:
        props[draw(st.sampled_from(["name", "kind"]))] = draw(UNSTORABLE_TEXT)
    polygon_type = draw(st.sampled_from(["Polygon", "MultiPolygon"]))
    coordinates = draw(broken_rings()) if "shape" in flaws else draw(squares())
    for flaw, values in (
        ("coordinate", BROKEN_COORDINATES),
        ("huge number", TOO_LARGE_FOR_A_FLOAT),
    ):
        if flaw in flaws and "shape" not in flaws:
            position, axis = draw(st.integers(0, 4)), draw(st.integers(0, 1))
            _break_position(coordinates[0], position, draw(values), axis)
    if polygon_type == "MultiPolygon":
        coordinates = [coordinates]
    geometry: Any = {"type": polygon_type, "coordinates": coordinates}
    if "geometry" in flaws:
        geometry = draw(
            st.fixed_dictionaries({"type": TEXT | JSON_VALUES, "coordinates": st.just(coordinates)})
            | JSON_VALUES
        )
    return {"type": "Feature", "properties": without_absent(props), "geometry": geometry}


@st.composite
def documents(draw: st.DrawFn) -> tuple[bytes, int | None]:
    """A zone import body, and how many zones it must store when all of it is valid.

    Half of the documents have one flaw in one feature, the others valid (the flaw
    is then what the import meets); the rest are valid, or flawed anywhere (a 'crs'
    too), or not a zone document at all."""
    count = draw(st.integers(1, 3))
    flaws = [frozenset[str]()] * count
    crs = ABSENT
    which = draw(st.integers(0, 5))  # drawn by index: each case as likely as it says
    if which == 0:
        return draw(JSON_VALUES.map(encode) | st.binary(max_size=100)), None
    if which in (2, 3, 4):
        flaws[draw(st.integers(0, count - 1))] = frozenset([draw(st.sampled_from(FLAWS))])
    elif which == 5:
        flaws = [draw(st.frozensets(st.sampled_from(FLAWS))) for _ in range(count)]
        crs = draw(st.sampled_from([ABSENT]) | JSON_VALUES)  # valid if it names WGS84
    drawn = [draw(features(f)) for f in flaws]
    expected = count if not any(flaws) and crs is ABSENT else None
    if count == 1 and draw(st.booleans()):
        return encode(drawn[0]), expected  # a bare Feature
    document = without_absent({"type": "FeatureCollection", "features": drawn, "crs": crs})
    return encode(document), expected


async def zone_count(sessionmaker: Maker, org_id: uuid.UUID) -> int:
    async with sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(CareZone).where(CareZone.organization_id == org_id)
        )
        return int(count or 0)


@fuzz_settings(max_examples=100)
@given(drawn=documents(), repair=st.booleans())
async def test_a_zone_import_stores_every_feature_or_nothing(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    drawn: tuple[bytes, int | None],
    repair: bool,
) -> None:
    raw, expected = drawn
    path = f"/v1/orgs/{world.org_id}/zones" + ("?repair=true" if repair else "")
    before = await db_fingerprint(sessionmaker)
    zones_before = await zone_count(sessionmaker, world.org_id)
    note_request("POST", path, raw)
    response = await client.post(
        path, content=raw, headers={**world.officer, "Content-Type": "application/geo+json"}
    )
    assert_not_5xx(response)
    if expected is not None:
        assert response.status_code == 201, response.text
    assert response.status_code in (201, 400, 422), response.text
    if response.status_code == 201:
        stored = await zone_count(sessionmaker, world.org_id) - zones_before
        assert stored == len(response.json()["ids"])
        assert expected is None or stored == expected
    else:
        assert await db_fingerprint(sessionmaker) == before


BROKEN_QUERY_VALUES = (
    st.floats().map(repr)
    | st.sampled_from(["1e309", "nan", "inf", "-inf", "16,88", "0x10", "91", "-181", "", "1" * 400])
    | TEXT
)
QUERY_FIELDS = {
    "lat": LATITUDES,
    "lon": LONGITUDES,
    "accuracy_m": st.floats(min_value=0, max_value=100_000),
}


@st.composite
def match_queries(draw: st.DrawFn) -> tuple[dict[str, str], bool]:
    """A point query, and whether it was drawn valid (lat and lon, maybe an accuracy)."""
    query: dict[str, str] = {}
    valid = True
    for name, good in QUERY_FIELDS.items():
        mode = draw(st.sampled_from(["valid", "broken", "absent"]))
        if mode == "valid":
            query[name] = repr(draw(good))
        elif mode == "broken":
            query[name] = draw(BROKEN_QUERY_VALUES)
        valid = valid and (mode == "valid" or (mode == "absent" and name == "accuracy_m"))
    return query, valid


@fuzz_settings(max_examples=40)
@given(drawn=match_queries())
async def test_matching_any_point_is_200_or_422(
    client: httpx.AsyncClient, world: World, drawn: tuple[dict[str, str], bool]
) -> None:
    query, valid = drawn
    # Unpaired surrogates go as the bytes a broken client would send (percent-encoded).
    path = f"/v1/orgs/{world.org_id}/zones/match?{urlencode(query, errors='surrogatepass')}"
    note_request("GET", path, b"")
    response = await client.get(path, headers=world.officer)
    assert_not_5xx(response)
    assert response.status_code in (200, 422), response.text
    if valid:
        assert response.status_code == 200, response.text
