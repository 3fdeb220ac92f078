"""The 5xx the generated tests found (tests/test_fuzz_*.py, tests/test_schemathesis.py),
each kept as a plain example: every one was a 500 before its fix.

- Text PostgreSQL cannot store: a NUL character (U+0000) in any text field, in a
  JSONB document (``\\u0000``), or an unpaired surrogate (``\\ud800``) where the body is
  read as plain JSON (zone imports). Now 422, and nothing is stored.
- A zone coordinate written as an integer too large for a float (``1000…0``, 400
  digits): OverflowError in the finiteness check. Now 422 naming the position.
"""

import json
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest
import sqlalchemy.exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request

from tests.factories import World, collection, feature, square
from tests.helpers import assert_problem, db_fingerprint

Maker = async_sessionmaker[AsyncSession]
ELDER = {"name": "ยายทดสอบ", "home": {"lat": 16.885, "lon": 103.255}, "dependency_group": 2}


def zones(name: str) -> Callable[[World], tuple[str, bytes]]:
    def build(world: World) -> tuple[str, bytes]:
        document = collection(feature(name, square(103.25, 16.87, 103.26, 16.88)))
        return f"/v1/orgs/{world.org_id}/zones", json.dumps(document).encode()

    return build


def elders(**fields: Any) -> Callable[[World], tuple[str, bytes]]:
    def build(world: World) -> tuple[str, bytes]:
        return f"/v1/orgs/{world.org_id}/elders", json.dumps(ELDER | fields).encode()

    return build


def device_token(label: str) -> Callable[[World], tuple[str, bytes]]:
    def build(world: World) -> tuple[str, bytes]:
        return f"/v1/elders/{world.elder_id}/device-tokens", json.dumps({"label": label}).encode()

    return build


def staff_incident(note: str) -> Callable[[World], tuple[str, bytes]]:
    def build(world: World) -> tuple[str, bytes]:
        body = {"elder_id": str(world.elder_id), "note": note}
        return f"/v1/orgs/{world.org_id}/incidents", json.dumps(body).encode()

    return build


UNSTORABLE_TEXT = {
    "zone name with NUL": zones("บ้าน\x00หนึ่ง"),
    "zone name with an unpaired surrogate": zones("\ud800"),
    "elder name with NUL": elders(name="ยาย\x00"),
    "elder contact with NUL (JSONB)": elders(
        contacts=[{"name": "ลูก\x00", "phone": "0812345678", "relation": "son"}]
    ),
    "device token label with NUL": device_token("\x00"),
    "staff incident note with NUL": staff_incident("fell\x00"),
}


@pytest.mark.parametrize("request_of", UNSTORABLE_TEXT.values(), ids=list(UNSTORABLE_TEXT))
async def test_text_the_database_cannot_store_is_422_and_stores_nothing(
    client: httpx.AsyncClient,
    world: World,
    sessionmaker: Maker,
    request_of: Callable[[World], tuple[str, bytes]],
) -> None:
    path, body = request_of(world)
    before = await db_fingerprint(sessionmaker)
    response = await client.post(
        path, content=body, headers={**world.officer, "Content-Type": "application/json"}
    )
    assert_problem(response, 422, detail="cannot be stored")
    assert await db_fingerprint(sessionmaker) == before


async def test_a_login_with_nul_in_the_username_is_refused_not_500(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/v1/auth/token", data={"username": "officer\x00@example.org", "password": "x" * 10}
    )
    assert response.status_code in (401, 422), response.text


async def test_a_zone_coordinate_too_large_for_a_float_is_422(
    client: httpx.AsyncClient, world: World, sessionmaker: Maker
) -> None:
    huge = "1" + "0" * 400
    body = (
        '{"type":"Feature","properties":{"name":"n"},"geometry":{"type":"Polygon",'
        f'"coordinates":[[[{huge},16.87],[103.26,16.87],[103.26,16.88],[{huge},16.87]]]}}}}'
    )
    before = await db_fingerprint(sessionmaker)
    response = await client.post(
        f"/v1/orgs/{world.org_id}/zones",
        content=body,
        headers={**world.officer, "Content-Type": "application/geo+json"},
    )
    problem = assert_problem(response, 422, detail="finite numbers")
    assert problem["errors"][0]["loc"][:3] == ["body", "features", 0]
    assert await db_fingerprint(sessionmaker) == before


async def test_any_other_data_error_still_goes_to_the_last_resort_handler() -> None:
    """The 422 is for unstorable text only: another refusal of the data (here, a number
    out of range) is a server bug, still answered 500 by the last-resort handler."""
    from api.problems import unstorable_text_handler

    out_of_range = psycopg.errors.NumericValueOutOfRange("integer out of range")
    exc = sqlalchemy.exc.DataError("UPDATE ...", {}, out_of_range)
    request = Request({"type": "http", "method": "POST", "path": "/v1/x", "headers": []})
    with pytest.raises(sqlalchemy.exc.DataError):
        await unstorable_text_handler(request, exc)
    with pytest.raises(UnicodeEncodeError):
        await unstorable_text_handler(request, UnicodeEncodeError("ascii", "é", 0, 1, "no"))
