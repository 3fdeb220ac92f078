"""Generated bad input for POST /v1/sos (issue 12, "Bad input, generated").

Properties:
- never a 5xx;
- a body that is a JSON object, from a known device, with any mix of broken, missing
  or unknown fields, opens exactly one incident (201), or joins the elder's active
  one (200); what was dropped is named in ``ignored``, on the timeline too, and
  never a field that was valid;
- anything else (not JSON, not an object) is 422 and changes nothing in the database.
"""

import json
import uuid
from typing import Any

import httpx
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.events.models import IncidentEvent
from core.uow import unit_of_work
from dispatch.models import Incident
from tests.factories import World, add_elder, bearer
from tests.fuzz_support import (
    ABSENT,
    BROKEN_COORDINATES,
    BROKEN_TIMESTAMPS,
    HUGE_INTS,
    JSON_HEADERS,
    JSON_VALUES,
    LATITUDES,
    LONGITUDES,
    NUMBERS,
    TEXT,
    absent_or,
    assert_not_5xx,
    encode,
    fuzz_settings,
    note_request,
    recent_timestamps,
)
from tests.helpers import assert_problem, db_fingerprint

Maker = async_sessionmaker[AsyncSession]
KNOWN = ("lat", "lon", "accuracy_m", "captured_at", "battery_pct", "trigger")

# Each optional field: (valid values, broken values). A "broken" draw may happen to
# be usable (a lenient parser takes "16.88" as a number), so only the valid draws
# carry a promise: they are never listed in ``ignored``.
FIELDS: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    "accuracy_m": (
        st.floats(min_value=0, max_value=100_000) | st.integers(0, 100_000),
        st.floats().filter(lambda f: not 0 <= f <= 100_000) | HUGE_INTS | JSON_VALUES,
    ),
    "captured_at": (recent_timestamps(), BROKEN_TIMESTAMPS),
    "battery_pct": (
        st.integers(0, 100),
        st.integers().filter(lambda n: not 0 <= n <= 100) | NUMBERS | JSON_VALUES,
    ),
    "trigger": (
        st.sampled_from(["button", "fall", "checkin_missed"]),
        st.just("staff") | TEXT | JSON_VALUES,
    ),
}


@st.composite
def sos_bodies(draw: st.DrawFn) -> tuple[dict[str, Any], frozenset[str]]:
    """An SOS body as some phone might send it, and the fields drawn valid."""
    valid: set[str] = set()
    body: dict[str, Any] = draw(
        st.dictionaries(TEXT.filter(lambda k: k not in KNOWN), JSON_VALUES, max_size=3)
    )
    position = draw(st.sampled_from(["absent", "valid", "broken", "half", "null"]))
    if position == "valid":
        body |= {"lat": draw(LATITUDES), "lon": draw(LONGITUDES)}
        valid.add("lat,lon")
    elif position == "broken":
        body |= {
            "lat": draw(LATITUDES | BROKEN_COORDINATES),
            "lon": draw(LONGITUDES | BROKEN_COORDINATES),
        }
    elif position == "half":
        name = draw(st.sampled_from(["lat", "lon"]))
        body[name] = draw(LATITUDES | BROKEN_COORDINATES)
    elif position == "null":
        body |= {"lat": None, "lon": None}
    for name, (good, bad) in FIELDS.items():
        mode = draw(st.sampled_from(["absent", "valid", "broken", "null"]))
        if mode == "valid":
            body[name] = draw(good)
            valid.add(name)
        elif mode == "broken":
            body[name] = draw(bad)
        elif mode == "null":
            body[name] = None
    return body, frozenset(valid)


# The Idempotency-Key header: none, a UUID, or any bytes a header may carry.
IDEMPOTENCY_KEYS = absent_or(
    st.uuids().map(str).map(str.encode),
    st.binary(max_size=300).map(
        lambda b: bytes(c for c in b if c not in b"\r\n\x00").strip() or b"k"
    ),
)


async def new_device(sessionmaker: Maker, world: World) -> tuple[uuid.UUID, dict[str, str]]:
    """An elder of the world's organization with no incident yet, and its device header."""
    async with unit_of_work(sessionmaker) as session:
        elder_id, _, token = await add_elder(session, world.org_id)
    return elder_id, bearer(token)


async def incidents_of(sessionmaker: Maker, elder_id: uuid.UUID) -> list[str]:
    async with sessionmaker() as session:
        rows = await session.scalars(select(Incident.id).where(Incident.elder_id == elder_id))
        return [str(i) for i in rows]


async def last_press(sessionmaker: Maker, incident_id: str) -> IncidentEvent:
    async with sessionmaker() as session:
        event = await session.scalar(
            select(IncidentEvent)
            .where(
                IncidentEvent.incident_id == uuid.UUID(incident_id),
                IncidentEvent.name.in_(["incident.opened", "incident.joined"]),
            )
            .order_by(IncidentEvent.id.desc())
            .limit(1)
        )
        assert event is not None
        return event


@fuzz_settings(max_examples=80)
@given(drawn=sos_bodies(), key=IDEMPOTENCY_KEYS, joining=st.booleans())
async def test_an_sos_with_broken_optional_fields_opens_or_joins_exactly_one_incident(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    drawn: tuple[dict[str, Any], frozenset[str]],
    key: Any,
    joining: bool,
) -> None:
    body, valid = drawn
    elder_id, device = await new_device(sessionmaker, world)
    active = None
    if joining:
        first = await client.post("/v1/sos", json={"trigger": "button"}, headers=device)
        assert first.status_code == 201, first.text
        active = first.json()["incident_id"]
    headers: dict[str, Any] = {**device, **JSON_HEADERS}
    if key is not ABSENT:
        headers["Idempotency-Key"] = key

    note_request("POST", "/v1/sos", encode(body), key=key, joining=joining)
    response = await client.post("/v1/sos", content=encode(body), headers=headers)

    assert_not_5xx(response)
    assert response.status_code == (200 if joining else 201), response.text
    answer = response.json()
    assert await incidents_of(sessionmaker, elder_id) == [answer["incident_id"]]
    if joining:
        assert answer["incident_id"] == active
    dropped = {entry["field"] for entry in answer["ignored"]}
    assert not dropped & valid, answer["ignored"]
    press = await last_press(sessionmaker, answer["incident_id"])
    assert press.data.get("ignored", []) == answer["ignored"]


# Bodies that are not a JSON object: other JSON values, and bytes that are not JSON.
NOT_OBJECTS = (
    JSON_VALUES.filter(lambda v: not isinstance(v, dict) and v is not None).map(encode)
    | st.binary(min_size=1, max_size=200)
    | st.sampled_from([b"null", b"[]", b'"{}"', b"{", b"\xff\xfe{}", b"{'lat': 1}", b"[{}]"])
)


def _is_object(raw: bytes) -> bool:
    if not raw.strip():
        return True  # an empty body is an SOS with nothing but the press
    try:
        return isinstance(json.loads(raw), dict)
    except (ValueError, RecursionError):
        return False


@fuzz_settings(max_examples=40)
@given(raw=NOT_OBJECTS.filter(lambda raw: not _is_object(raw)))
async def test_a_body_that_is_not_a_json_object_is_422_and_stores_nothing(
    client: httpx.AsyncClient, world: World, sessionmaker: Maker, raw: bytes
) -> None:
    before = await db_fingerprint(sessionmaker)
    note_request("POST", "/v1/sos", raw)
    response = await client.post("/v1/sos", content=raw, headers={**world.elder, **JSON_HEADERS})
    assert_not_5xx(response)
    assert_problem(response, 422)
    assert await db_fingerprint(sessionmaker) == before
