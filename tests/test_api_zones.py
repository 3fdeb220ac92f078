"""Care-zone import, listing, matching and teams over HTTP."""

import json
import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.factories import World, collection, feature, square
from tests.helpers import assert_problem, db_fingerprint

GEOJSON = {"Content-Type": "application/geo+json"}


def zones_url(world: World) -> str:
    return f"/v1/orgs/{world.org_id}/zones"


async def test_import_a_feature_collection_then_list_and_match(
    client: httpx.AsyncClient, world: World
) -> None:
    doc = collection(
        feature("บ้านนาบอน", square(103.30, 16.90, 103.31, 16.91), priority=2),
        feature(
            "Two parts",
            [square(103.40, 16.90, 103.41, 16.91), square(103.42, 16.90, 103.43, 16.91)],
            geometry_type="MultiPolygon",
        ),
    )
    response = await client.post(zones_url(world), json=doc, headers=world.officer)
    assert response.status_code == 201, response.text
    assert len(response.json()["ids"]) == 2

    listed = await client.get(zones_url(world), headers=world.responder)
    assert listed.status_code == 200
    assert listed.headers["content-type"].startswith("application/geo+json")
    by_name = {f["properties"]["name"]: f for f in listed.json()["features"]}
    assert {"North", "South", "บ้านนาบอน", "Two parts"} <= by_name.keys()
    assert by_name["บ้านนาบอน"]["geometry"]["type"] == "MultiPolygon"
    assert by_name["บ้านนาบอน"]["properties"]["priority"] == 2
    lon, lat = by_name["Two parts"]["geometry"]["coordinates"][1][0][0]
    assert (lon, lat) == (103.42, 16.90)  # [lon, lat] order, as RFC 7946 says

    match = await client.get(
        f"{zones_url(world)}/match", params={"lat": 16.905, "lon": 103.425}, headers=world.officer
    )
    assert [m["name"] for m in match.json()] == ["Two parts"]


async def test_a_single_feature_is_accepted_as_plain_json_too(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.post(
        zones_url(world),
        json=feature("Solo", square(103.5, 16.5, 103.51, 16.51)),
        headers=world.officer,
    )
    assert response.status_code == 201 and len(response.json()["ids"]) == 1


async def test_invalid_feature_is_named_and_nothing_is_imported(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    bowtie = [[[103.0, 16.0], [103.02, 16.02], [103.02, 16.0], [103.0, 16.02], [103.0, 16.0]]]
    doc = collection(
        feature("Good", square(103.1, 16.1, 103.11, 16.11)),
        feature("บ้านไขว้", bowtie),
        feature("Open", [[[103.2, 16.2], [103.21, 16.2], [103.21, 16.21]]]),
    )
    before = await db_fingerprint(sessionmaker)
    response = await client.post(
        zones_url(world), content=_dumps(doc), headers={**world.officer, **GEOJSON}
    )
    body = assert_problem(response, 422, detail="feature 1 ('บ้านไขว้')")
    messages = [e["msg"] for e in body["errors"]]
    assert any("Self-intersection" in m for m in messages)
    assert any("feature 2 ('Open')" in m and "not closed" in m for m in messages)
    assert body["errors"][0]["loc"][:3] == ["body", "features", 1]
    assert await db_fingerprint(sessionmaker) == before

    repaired = await client.post(f"{zones_url(world)}?repair=true", json=doc, headers=world.officer)
    assert repaired.status_code == 201, repaired.text
    assert len(repaired.json()["ids"]) == 3
    assert repaired.json()["repaired"] == [1]
    match = await client.get(
        f"{zones_url(world)}/match", params={"lat": 16.205, "lon": 103.209}, headers=world.officer
    )
    assert [m["name"] for m in match.json()] == ["Open"]


async def test_wrong_geojson_and_foreign_crs_are_refused_without_change(
    client: httpx.AsyncClient, world: World, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    utm = collection(feature("UTM", square(300000, 1860000, 301000, 1861000)))
    utm["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32648"}}
    cases = [
        ({"type": "Point", "coordinates": [103.2, 16.8]}, "bare Point"),
        (
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"name": "L"},
                        "geometry": {"type": "LineString", "coordinates": [[103, 16], [104, 17]]},
                    }
                ],
            },
            "Polygon or MultiPolygon",
        ),
        (utm, "WGS84"),
        (collection(feature("Swapped", square(16.88, 103.25, 16.89, 103.26))), "outside"),
        ({"type": "FeatureCollection", "features": "nope"}, "'features' array"),
    ]
    before = await db_fingerprint(sessionmaker)
    for doc, detail in cases:
        assert_problem(
            await client.post(zones_url(world), json=doc, headers=world.officer), 422, detail=detail
        )
    assert_problem(
        await client.post(
            zones_url(world), content=b"[1, 2]", headers={**world.officer, **GEOJSON}
        ),
        422,
    )
    assert_problem(
        await client.post(
            zones_url(world), content=b"{not json", headers={**world.officer, **GEOJSON}
        ),
        422,
    )
    assert await db_fingerprint(sessionmaker) == before


async def test_zone_access_is_for_the_organizations_staff(
    client: httpx.AsyncClient, world: World, other_world: World
) -> None:
    doc = feature("X", square(103.5, 16.5, 103.51, 16.51))
    assert_problem(await client.post(zones_url(world), json=doc, headers=world.responder), 403)
    assert_problem(await client.post(zones_url(world), json=doc, headers=other_world.officer), 403)
    assert_problem(await client.post(zones_url(world), json=doc, headers=world.elder), 403)
    assert_problem(await client.get(zones_url(world), headers=world.elder), 403)
    assert_problem(
        await client.get(
            f"{zones_url(world)}/match", params={"lat": 16.8, "lon": 103.2}, headers=world.responder
        ),
        403,
    )


async def test_match_validates_coordinates(client: httpx.AsyncClient, world: World) -> None:
    url = f"{zones_url(world)}/match"
    bad_params: list[dict[str, str | float]] = [
        {"lat": 91, "lon": 103},
        {"lat": "abc", "lon": 103},
        {"lat": "nan", "lon": 103},
        {"lat": 16.8},
        {"lat": 16.8, "lon": 103, "accuracy_m": -1},
    ]
    for params in bad_params:
        assert_problem(await client.get(url, params=params, headers=world.officer), 422)
    near = await client.get(
        url, params={"lat": 16.8905, "lon": 103.255, "accuracy_m": 100}, headers=world.officer
    )
    assert [m["name"] for m in near.json()] == ["North"]
    assert near.json()[0]["covers"] is False


async def test_zone_team_is_replaced_with_responders_of_the_same_org(
    client: httpx.AsyncClient, world: World, other_world: World
) -> None:
    south = world.zone_ids["South"]
    url = f"/v1/zones/{south}/responders"
    response = await client.put(
        url, json={"responder_ids": [str(world.responder_id)]}, headers=world.officer
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"zone_id": str(south), "responder_ids": [str(world.responder_id)]}
    team = await client.get(f"/v1/orgs/{world.org_id}/responders", headers=world.officer)
    assert str(south) in team.json()[0]["zone_ids"]

    foreign = await client.put(
        url, json={"responder_ids": [str(other_world.responder_id)]}, headers=world.officer
    )
    assert_problem(foreign, 422, detail="not responders of this organization")
    assert_problem(
        await client.put(url, json={"responder_ids": []}, headers=other_world.officer), 404
    )
    assert_problem(
        await client.put(
            f"/v1/zones/{uuid.uuid4()}/responders",
            json={"responder_ids": []},
            headers=world.officer,
        ),
        404,
    )
    emptied = await client.put(url, json={"responder_ids": []}, headers=world.officer)
    assert emptied.json()["responder_ids"] == []


def _dumps(doc: object) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()
