"""Generated bad input for POST /v1/responders/me/location (issue 12).

Properties, for a responder who is free and for one assigned to an incident (whose
fixes go on the incident's timeline with a distance and an ETA):
- never a 5xx;
- a body with a valid position and valid (or no) accuracy and fix time is 204;
- every 4xx changes nothing in the database.
"""

import uuid
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.rate_limit import RateLimitState
from core.uow import unit_of_work
from tests.dispatch_helpers import sos
from tests.factories import World
from tests.fuzz_support import (
    ABSENT,
    BROKEN_COORDINATES,
    BROKEN_TIMESTAMPS,
    HUGE_INTS,
    JSON_HEADERS,
    JSON_VALUES,
    LATITUDES,
    LONGITUDES,
    TEXT,
    assert_not_5xx,
    encode,
    fuzz_settings,
    note_request,
    recent_timestamps,
    without_absent,
)
from tests.helpers import db_fingerprint

Maker = async_sessionmaker[AsyncSession]
PATH = "/v1/responders/me/location"

FIELDS: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    "lat": (LATITUDES, BROKEN_COORDINATES),
    "lon": (LONGITUDES, BROKEN_COORDINATES),
    "accuracy_m": (
        st.floats(min_value=0, max_value=100_000) | st.integers(0, 100_000),
        st.floats().filter(lambda f: not 0 <= f <= 100_000) | HUGE_INTS | JSON_VALUES,
    ),
    "recorded_at": (recent_timestamps(), BROKEN_TIMESTAMPS),
}
REQUIRED = ("lat", "lon")


@st.composite
def location_bodies(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A location post, and whether every part of it was drawn valid."""
    if draw(st.integers(0, 4)) == 0:  # one in five is not an object at all
        raw = draw(
            JSON_VALUES.filter(lambda v: not isinstance(v, dict)).map(encode)
            | st.binary(max_size=100)
        )
        return raw, False
    # A third each: no field broken, one (it alone decides the answer), any.
    which = draw(st.integers(0, 2))
    if which == 0:
        broken = set()
    elif which == 1:
        broken = {draw(st.sampled_from(sorted(FIELDS)))}
    else:
        broken = draw(st.sets(st.sampled_from(sorted(FIELDS))))
    body: dict[str, Any] = {}
    for name, (good, bad) in FIELDS.items():
        if name in broken:
            # Broken: a bad value, or (for lat and lon) missing or null.
            missing = [ABSENT, None] if name in REQUIRED else []
            body[name] = draw(st.sampled_from(missing) | bad if missing else bad)
        elif name in REQUIRED or draw(st.booleans()):
            body[name] = draw(good)
        else:
            body[name] = draw(st.sampled_from([ABSENT, None]))
    extras = draw(st.dictionaries(TEXT.filter(lambda k: k not in FIELDS), JSON_VALUES, max_size=2))
    return encode(extras | without_absent(body)), not broken and not extras


async def forget_rate(sessionmaker: Maker, responder_id: uuid.UUID) -> None:
    """Examples come faster than a phone sends fixes: start each under the limit."""
    async with unit_of_work(sessionmaker) as session:
        await session.execute(
            delete(RateLimitState).where(RateLimitState.key == f"locations_per_min:{responder_id}")
        )


@pytest.fixture(params=["free", "assigned"])
async def responder(
    request: pytest.FixtureRequest, client: httpx.AsyncClient, world: World
) -> dict[str, str]:
    if request.param == "assigned":
        incident = await sos(client, world)
        accepted = await client.post(f"/v1/incidents/{incident}/accept", headers=world.responder)
        assert accepted.status_code == 200, accepted.text
    return world.responder


@fuzz_settings(max_examples=100)
@given(drawn=location_bodies())
async def test_a_location_post_is_204_or_a_4xx_that_changes_nothing(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    responder: dict[str, str],
    drawn: tuple[bytes, bool],
) -> None:
    raw, valid = drawn
    await forget_rate(sessionmaker, world.responder_id)
    before = await db_fingerprint(sessionmaker)
    note_request("POST", PATH, raw)
    response = await client.post(PATH, content=raw, headers={**responder, **JSON_HEADERS})
    assert_not_5xx(response)
    if valid:
        assert response.status_code == 204, response.text
    else:
        # 400: not JSON at all (FastAPI's answer); 422: JSON that is not a location.
        assert response.status_code in (204, 400, 422), response.text
    if response.status_code >= 400:
        assert await db_fingerprint(sessionmaker) == before
