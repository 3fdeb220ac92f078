"""The authorization matrix: every HTTP route of the app × every kind of principal.

The expectations are written from the policy (API.md, docs/decisions.md "Access and
errors", api/policy.py), not from what the code happens to do:

- anonymous: 401 everywhere but the public routes;
- the wrong kind of principal for the route: 403;
- officers only their organization: another organization's collection (``/v1/orgs/{id}/…``)
  403, another organization's object 404, so ids cannot be probed;
- responders only incidents they were offered or assigned (no relation at all: 404;
  a relation that does not allow this action: 403); medical details and contacts only to
  officers and the assigned responder while the incident is open;
- an elder's device only its own elder's incidents; the admin everything.

A route without a row fails ``test_every_route_has_a_row``, so a new endpoint cannot ship
without deciding who may call it; a row for a route that is gone fails too.
"""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts

from api.deps import current_principal
from core.settings import Settings
from core.uow import unit_of_work
from dispatch.policy_document import DispatchPolicy
from notifications.line_models import LineAccount
from notifications.models import HandoffEndpoint
from tests.authz_scene import (
    ADMIN,
    ANONYMOUS,
    ASSIGNED,
    ELDER_A,
    ELDER_A_NAME,
    ELDER_B,
    ELDERS,
    MEDICAL,
    NOT_OFFERED,
    OFFERED,
    OFFICER_A,
    OFFICER_B,
    PRINCIPALS,
    RESPONDERS,
    AuthzScene,
    Maker,
    Outsiders,
    build_cast,
    build_outsiders,
    build_scene,
    found,
    hash_each_password_once,
)
from tests.dispatch_helpers import sos
from tests.factories import PASSWORD, feature, square
from tests.helpers import assert_problem

# --- expectations ------------------------------------------------------------------

OFFICIALS = (ADMIN, OFFICER_A)  # may act on everything of organization A
SIGNED_IN = tuple(p for p in PRINCIPALS if p != ANONYMOUS)
# How each principal relates to the scene's incident (dispatch/visibility.py's Viewer);
# officer B, the responder never offered and elder B have no relation to it.
RELATION = {
    ADMIN: "officer",
    OFFICER_A: "officer",
    ASSIGNED: "assigned",
    OFFERED: "offered",
    ELDER_A: "elder",
}


def only(status: int, *allowed: str, **special: int) -> dict[str, int]:
    """``allowed`` get ``status``; every other signed-in principal 403; anonymous 401."""
    expect = dict.fromkeys(PRINCIPALS, 403) | {ANONYMOUS: 401}
    return expect | dict.fromkeys(allowed, status) | special


def public(status: int) -> dict[str, int]:
    return dict.fromkeys(PRINCIPALS, status)


def org_collection(status: int, *also: str) -> dict[str, int]:
    """Under ``/v1/orgs/{org_id}/…``: officer B is refused (403), nothing is hidden."""
    return only(status, *OFFICIALS, *also)


def org_object(status: int) -> dict[str, int]:
    """One object of organization A: another organization's officer is told 404."""
    return only(status, *OFFICIALS, officer_b=404)


def incident_action(status: int, *relations: str) -> dict[str, int]:
    """No relation to the incident: 404; a relation that does not allow this: 403."""
    expect = dict.fromkeys(PRINCIPALS, 404) | {ANONYMOUS: 401}
    for principal, relation in RELATION.items():
        expect[principal] = status if relation in relations else 403
    return expect


def responder_action(**by_responder: int) -> dict[str, int]:
    """For responders only (403 to every other kind, whatever the id), then by relation."""
    return only(403, **by_responder)


@dataclass(frozen=True)
class Call:
    """What to send besides the method and the path."""

    json: Any = None
    data: dict[str, str] | None = None
    params: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def nothing(scene: AuthzScene) -> Call:
    return Call()


def body(builder: Callable[[AuthzScene], Any]) -> Callable[[AuthzScene], Call]:
    return lambda scene: Call(json=builder(scene))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Row:
    expect: Mapping[str, int]
    call: Callable[[AuthzScene], Call] = nothing
    # Path parameters that differ from AuthzScene.path_params().
    target: Callable[[AuthzScene], dict[str, uuid.UUID]] = lambda scene: {}
    # Who gets elder A's medical details in a 2xx answer (everyone else must not).
    medical: frozenset[str] = frozenset()


SAFE_ZONE = {"name": "รอบบ้าน", "kind": "circle", "circle": {"radius_m": 300}}


def safe_zone(scene: AuthzScene) -> dict[str, uuid.UUID]:
    return {"zone_id": scene.safe_zone_id}


# Not in the API document: the map's pages, and /metrics (Prometheus' text format).
PUBLIC_PAGES = {"GET /map", "GET /map/reports", "GET /map/config.json", "GET /", "GET /metrics"}

ROUTES: dict[str, Row] = {
    # --- public: no token needed, and nothing of any organization in the answer
    "GET /healthz": Row(public(200)),
    "GET /readyz": Row(public(200)),
    "GET /readyz/live": Row(public(200)),
    # No token, but loopback only unless PHIKAT_METRICS_TOKEN (tests/test_metrics.py); the
    # suite's client is on loopback. Counters only, nothing of any organization.
    "GET /metrics": Row(public(200)),
    "GET /map": Row(public(200)),
    "GET /map/reports": Row(public(200)),
    "GET /map/config.json": Row(public(200)),
    "GET /": Row(public(307)),  # a redirect to /map
    "POST /v1/auth/token": Row(
        public(200),
        lambda s: Call(
            data={"username": f"officer@{s.world.org_code}.example.org", "password": PASSWORD}
        ),
    ),
    # Signs out the refresh token given; an unknown one answers the same (nothing to reveal).
    "POST /v1/auth/logout": Row(
        public(204), lambda s: Call(data={"refresh_token": f"phk_rt_{uuid.uuid4().hex}.unknown"})
    ),
    # --- who am I
    "GET /v1/me": Row(only(200, *SIGNED_IN)),
    # --- organizations and staff
    "POST /v1/orgs": Row(only(201, ADMIN), body(lambda s: {"name": "Org", "code": unique("o")})),
    # The organization itself, like everything under it: another one's is 403 (a made-up
    # id answers the same, so nothing is confirmed).
    "GET /v1/orgs/{org_id}": Row(org_collection(200)),
    "POST /v1/orgs/{org_id}/officers": Row(
        org_collection(201),
        body(
            lambda s: {"name": "O", "email": f"{unique('o')}@a.example.org", "password": PASSWORD}
        ),
    ),
    # {user_id} is the responder who was never offered: an account of organization A.
    "POST /v1/users/{user_id}/disable": Row(org_object(200)),
    "POST /v1/users/{user_id}/enable": Row(org_object(200)),
    # --- care zones
    "POST /v1/orgs/{org_id}/zones": Row(
        org_collection(201),
        body(lambda s: feature("Far away", square(104.0, 17.0, 104.01, 17.01))),
    ),
    "GET /v1/orgs/{org_id}/zones": Row(org_collection(200, *RESPONDERS)),
    "GET /v1/orgs/{org_id}/zones/match": Row(
        org_collection(200), lambda s: Call(params={"lat": "16.885", "lon": "103.255"})
    ),
    "PUT /v1/zones/{zone_id}/responders": Row(
        org_object(200), body(lambda s: {"responder_ids": [str(s.offered_id)]})
    ),
    # --- responders
    "POST /v1/orgs/{org_id}/responders": Row(
        org_collection(201),
        body(
            lambda s: {
                "name": "New",
                "email": f"{unique('r')}@a.example.org",
                "password": PASSWORD,
                "phone": "0812223333",
                "kind": "volunteer",
            }
        ),
    ),
    "GET /v1/orgs/{org_id}/responders": Row(org_collection(200)),
    # "me" routes: the admin and officers have no duty status, position or offers.
    "PUT /v1/responders/me/status": Row(only(200, *RESPONDERS), body(lambda s: {"on_duty": True})),
    "POST /v1/responders/me/location": Row(
        only(204, *RESPONDERS), body(lambda s: {"lat": 16.8858, "lon": 103.255, "accuracy_m": 9})
    ),
    "GET /v1/responders/me/offers": Row(only(200, *RESPONDERS)),
    # Officers register their phones too: escalations are pushed to them.
    "POST /v1/devices": Row(
        only(201, OFFICER_A, OFFICER_B, *RESPONDERS, *ELDERS),
        body(lambda s: {"fcm_token": unique("fcm"), "platform": "android"}),
    ),
    # --- elders ({elder_id} is elder A)
    "POST /v1/orgs/{org_id}/elders": Row(
        org_collection(201),
        body(
            lambda s: {
                "name": "ตาใหม่",
                "home": {"lat": 16.885, "lon": 103.255},
                "dependency_group": 1,
            }
        ),
    ),
    # The list leaves medical facts and contacts out (one elder's read is logged).
    "GET /v1/orgs/{org_id}/elders": Row(org_collection(200)),
    "GET /v1/elders/{elder_id}": Row(org_object(200), medical=frozenset(OFFICIALS)),
    "POST /v1/elders/{elder_id}/device-tokens": Row(
        org_object(201), body(lambda s: {"label": "new phone"})
    ),
    "DELETE /v1/elders/{elder_id}/device-tokens/{token_id}": Row(org_object(204)),
    # --- safe zones (officers) and the elder's own positions
    "GET /v1/elders/{elder_id}/safe-zones": Row(org_object(200)),
    "POST /v1/elders/{elder_id}/safe-zones": Row(org_object(201), body(lambda s: SAFE_ZONE)),
    "GET /v1/elders/{elder_id}/safe-zones/{zone_id}": Row(org_object(200), target=safe_zone),
    "PUT /v1/elders/{elder_id}/safe-zones/{zone_id}": Row(
        org_object(200), body(lambda s: SAFE_ZONE), target=safe_zone
    ),
    "DELETE /v1/elders/{elder_id}/safe-zones/{zone_id}": Row(org_object(204), target=safe_zone),
    # --- check-ins: elder A has a plan, elder B none (409 on a check-in, 404 on a read)
    "PUT /v1/elders/{elder_id}/checkin-plan": Row(
        org_object(200), body(lambda s: {"times": ["09:00", "18:00"]})
    ),
    "GET /v1/elders/{elder_id}/checkin-plan": Row(org_object(200)),
    "DELETE /v1/elders/{elder_id}/checkin-plan": Row(org_object(204)),
    "GET /v1/elders/me/checkin-plan": Row(only(200, ELDER_A, elder_b=404)),
    "POST /v1/elders/me/checkins": Row(only(201, ELDER_A, elder_b=409), body(lambda s: {})),
    # A caregiver (any responder of the organization) or an officer, on the elder's behalf.
    "POST /v1/elders/{elder_id}/checkins": Row(
        only(201, *OFFICIALS, *RESPONDERS, officer_b=404), body(lambda s: {})
    ),
    "POST /v1/elders/me/activity": Row(only(204, *ELDERS), body(lambda s: {})),
    "GET /v1/orgs/{org_id}/checkins": Row(org_collection(200)),
    "GET /v1/orgs/{org_id}/safe-zones": Row(org_collection(200)),
    "POST /v1/elders/me/positions": Row(
        only(200, *ELDERS),
        body(
            lambda s: {
                "lat": 16.8852,
                "lon": 103.255,
                "accuracy_m": 10,
                "captured_at": datetime.now(UTC).isoformat(),
            }
        ),
    ),
    # --- PDPA
    "GET /v1/elders/{elder_id}/medical-access": Row(org_object(200)),
    "GET /v1/elders/{elder_id}/export": Row(org_object(200), medical=frozenset(OFFICIALS)),
    # Erasing elder A would be 409 (an open incident): elder B, who has none, is erased.
    "DELETE /v1/elders/{elder_id}": Row(
        org_object(204), target=lambda s: {"elder_id": s.elder_b_id}
    ),
    # --- SOS and incidents ({incident_id} is elder A's, accepted by "assigned")
    # Elder A already has an active incident: the press joins it (200); B's opens one.
    "POST /v1/sos": Row(
        only(201, ELDER_B, elder_a=200),
        lambda s: Call(json={"trigger": "button"}, headers={"Idempotency-Key": unique("k")}),
    ),
    "POST /v1/orgs/{org_id}/incidents": Row(
        org_collection(201, *RESPONDERS), body(lambda s: {"elder_id": str(s.elder_b_id)})
    ),
    "GET /v1/orgs/{org_id}/incidents": Row(org_collection(200)),
    "GET /v1/incidents/{incident_id}": Row(
        incident_action(200, "officer", "assigned", "offered", "elder"),
        medical=frozenset({*OFFICIALS, ASSIGNED}),
    ),
    # The winner's repeated tap is 200; the other offered responder is 409: someone
    # else already accepted.
    "POST /v1/incidents/{incident_id}/accept": Row(
        responder_action(responder_assigned=200, responder_offered=409, responder_not_offered=404),
        medical=frozenset({ASSIGNED}),
    ),
    # The offered responder's offer was withdrawn when the other accepted: 409. The
    # assigned responder may see the incident but has no offer to decline: 403.
    "POST /v1/incidents/{incident_id}/decline": Row(
        responder_action(responder_assigned=403, responder_offered=409, responder_not_offered=404)
    ),
    "POST /v1/incidents/{incident_id}/arrive": Row(
        incident_action(200, "assigned"), medical=frozenset({ASSIGNED})
    ),
    # Resolved, the incident is closed: the assigned responder's answer has no medical data.
    "POST /v1/incidents/{incident_id}/resolve": Row(
        incident_action(200, "officer", "assigned"),
        body(lambda s: {"outcome": "treated_on_scene"}),
        medical=frozenset(OFFICIALS),
    ),
    "POST /v1/incidents/{incident_id}/cancel": Row(
        incident_action(200, "officer", "elder"),
        body(lambda s: {"reason": "a false alarm"}),
        medical=frozenset(OFFICIALS),
    ),
    "POST /v1/incidents/{incident_id}/assign": Row(
        incident_action(200, "officer"),
        body(lambda s: {"responder_id": str(s.offered_id)}),
        medical=frozenset(OFFICIALS),
    ),
    "POST /v1/incidents/{incident_id}/escalate": Row(
        incident_action(200, "officer"), medical=frozenset(OFFICIALS)
    ),
    "POST /v1/incidents/{incident_id}/locations": Row(
        incident_action(204, "elder", "assigned"),
        body(lambda s: {"lat": 16.8852, "lon": 103.255, "accuracy_m": 8}),
    ),
    # {offer_id} is the offered responder's: nobody else's offer exists for them.
    "POST /v1/offers/{offer_id}/received": Row(
        responder_action(responder_offered=204, responder_assigned=404, responder_not_offered=404)
    ),
    # --- dispatch policy, reports
    # --- the 1669 hand-off (the scene's organization has a centre configured)
    "GET /v1/orgs/{org_id}/handoff-centre": Row(org_collection(200)),
    "PUT /v1/orgs/{org_id}/handoff-centre": Row(
        org_collection(200),
        body(lambda s: {"url": "https://centre.example.org/phikat", "secret": "s" * 40}),
    ),
    # Printable at any point of the incident, for officials only.
    "GET /v1/incidents/{incident_id}/handoff/sheet": Row(
        org_object(200), medical=frozenset(OFFICIALS)
    ),
    # Authenticated by the centre's signature, not a token: unsigned is 401 for everyone
    # (tests/test_handoff.py signs them).
    "POST /v1/orgs/{org_id}/handoff/answers": Row(
        dict.fromkeys(PRINCIPALS, 401), body(lambda s: {"status": "accepted"})
    ),
    # --- families on LINE (the scene's organization has a LINE account; docs/line.md)
    "GET /v1/orgs/{org_id}/line-account": Row(org_collection(200)),
    "PUT /v1/orgs/{org_id}/line-account": Row(
        org_collection(200),
        body(lambda s: {"channel_secret": "c" * 32, "access_token": "t" * 40}),
    ),
    "DELETE /v1/orgs/{org_id}/line-account": Row(org_collection(204)),
    # Contacts with masked phones (the full record is GET /v1/elders/{elder_id}).
    "GET /v1/elders/{elder_id}/contacts": Row(org_object(200)),
    "PATCH /v1/elders/{elder_id}/contacts": Row(
        org_object(200), body(lambda s: {"contact": 0, "notify": "both"})
    ),
    "POST /v1/elders/{elder_id}/contacts/line-code": Row(
        org_object(201), body(lambda s: {"contact": 0})
    ),
    # Signed by LINE with the channel secret, no token: unsigned is 401 for everyone
    # (tests/test_line_linking.py signs them).
    "POST /v1/line/webhook/{org_id}": Row(
        dict.fromkeys(PRINCIPALS, 401), body(lambda s: {"destination": "U", "events": []})
    ),
    "GET /v1/orgs/{org_id}/dispatch-policy": Row(org_collection(200)),
    "PUT /v1/orgs/{org_id}/dispatch-policy": Row(
        org_collection(200), body(lambda s: DispatchPolicy().model_dump(mode="json"))
    ),
    "GET /v1/orgs/{org_id}/reports/response-times": Row(org_collection(200)),
    "GET /v1/orgs/{org_id}/incidents.geojson": Row(org_collection(200)),
}

PUBLIC = {route for route, row in ROUTES.items() if row.expect[ANONYMOUS] < 400}
# No token: a signature over the body decides (the 1669 centre's answers).
SIGNED = {"POST /v1/orgs/{org_id}/handoff/answers", "POST /v1/line/webhook/{org_id}"}


# --- the app's routes ----------------------------------------------------------------


def http_routes(app: FastAPI) -> dict[str, APIRoute]:
    """``"METHOD path"`` of every HTTP route (HEAD and OPTIONS left out). FastAPI's own
    docs (/openapi.json, /docs, /redoc) are plain Starlette routes and static files are
    mounts: neither is an APIRoute."""
    routes = {}
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute):
            for method in (route.methods or set()) - {"HEAD", "OPTIONS"}:
                routes[f"{method} {route.path}"] = route
    return routes


def needs_principal(dependant: Dependant) -> bool:
    return any(d.call is current_principal or needs_principal(d) for d in dependant.dependencies)


def test_every_route_has_a_row(app: FastAPI) -> None:
    assert sorted(http_routes(app).keys() - ROUTES.keys()) == []


def test_every_row_names_a_route(app: FastAPI) -> None:
    assert sorted(ROUTES.keys() - http_routes(app).keys()) == []


def test_every_row_names_every_principal() -> None:
    for route, row in ROUTES.items():
        assert sorted(row.expect) == sorted(PRINCIPALS), route


def test_the_public_routes_are_exactly_those_that_ask_for_no_token(app: FastAPI) -> None:
    anonymous_ok = {key for key, r in http_routes(app).items() if not needs_principal(r.dependant)}
    assert anonymous_ok == PUBLIC | SIGNED
    pages = {key for key, r in http_routes(app).items() if not r.include_in_schema}
    assert pages == PUBLIC_PAGES


def test_the_only_websocket_is_the_live_channel(app: FastAPI) -> None:
    # Its own matrix is tests/test_live_authz_matrix.py.
    sockets = {
        c.original_route.path
        for c in iter_route_contexts(app.routes)
        if isinstance(c.original_route, APIWebSocketRoute)
    }
    assert sockets == {"/v1/live"}


# --- the scene -----------------------------------------------------------------------

NewScene = Callable[[], Awaitable[AuthzScene]]


@pytest.fixture(scope="module", autouse=True)
def _fast_passwords() -> Iterator[None]:
    with hash_each_password_once():
        yield


@pytest.fixture(scope="module")
async def outsiders(
    sessionmaker: Maker, settings: Settings, client: httpx.AsyncClient
) -> Outsiders:
    return await build_outsiders(sessionmaker, settings, client)


@pytest.fixture(scope="module")
def new_scene(
    sessionmaker: Maker, settings: Settings, client: httpx.AsyncClient, outsiders: Outsiders
) -> NewScene:
    async def build() -> AuthzScene:
        scene = await build_scene(sessionmaker, settings, client, outsiders)
        async with unit_of_work(sessionmaker) as session:  # a 1669 centre to read back
            session.add(
                HandoffEndpoint(
                    organization_id=scene.org_id,
                    url="https://centre.example.org/phikat",
                    secret="centre-secret-" + "s" * 30,
                )
            )
            session.add(
                LineAccount(
                    organization_id=scene.org_id, channel_secret="c" * 32, access_token="t" * 40
                )
            )
        return scene

    return build


@pytest.fixture(scope="module")
async def shared_scene(new_scene: NewScene) -> AsyncIterator[AuthzScene]:
    """For the GET cells, which change nothing."""
    yield await new_scene()


SceneFor = Callable[[str, int], Awaitable[AuthzScene]]


@pytest.fixture(scope="module")
def scene_for(new_scene: NewScene, shared_scene: AuthzScene) -> SceneFor:
    """The scene a cell runs in. Every cell that is expected to change something (2xx)
    or to depend on the state (409) gets a fresh one, so no cell's outcome depends on
    another's. Refusals (401/403/404) change nothing: a route's refusals share a scene
    (if one did change something, that cell fails by itself)."""
    refusals: dict[str, AuthzScene] = {}

    async def pick(route: str, expected: int) -> AuthzScene:
        if route.startswith("GET "):
            return shared_scene
        if expected not in (401, 403, 404):
            return await new_scene()
        if route not in refusals:
            refusals[route] = await new_scene()
        return refusals[route]

    return pick


async def send(
    client: httpx.AsyncClient,
    route: str,
    scene: AuthzScene,
    principal: str,
    *,
    path_params: Mapping[str, uuid.UUID] | None = None,
) -> httpx.Response:
    method, path = route.split(" ", 1)
    row = ROUTES[route]
    call = row.call(scene)
    params = path_params or scene.path_params() | row.target(scene)
    return await client.request(
        method,
        path.format(**params),
        json=call.json,
        data=call.data,
        params=call.params,
        headers={**scene.headers[principal], **call.headers},
    )


def without_ids(scene: AuthzScene) -> dict[str, uuid.UUID]:
    return {name: uuid.uuid4() for name in scene.path_params()}


CELLS = [
    pytest.param(route, principal, id=f"{route}-{principal}")
    for route in ROUTES
    for principal in PRINCIPALS
]


@pytest.mark.parametrize(("route", "principal"), CELLS)
async def test_route_authz(
    route: str,
    principal: str,
    client: httpx.AsyncClient,
    scene_for: SceneFor,
) -> None:
    row = ROUTES[route]
    expected = row.expect[principal]
    scene = await scene_for(route, expected)
    response = await send(client, route, scene, principal)
    assert response.status_code == expected, response.text[:500]
    if expected >= 400:
        assert_problem(response, expected)
        assert found(response.text, (ELDER_A_NAME, *MEDICAL)) == []
    else:
        shown = found(response.text, MEDICAL)
        assert shown == (sorted(MEDICAL) if principal in row.medical else [])
    if principal == OFFICER_B:
        assert found(response.text, {ELDER_A_NAME, *MEDICAL, *scene.ids()}) == []
    if (expected == 404 or (principal == OFFICER_B and expected == 403)) and "{" in route:
        # No probing: organization A's real ids answer just like ids that do not exist.
        probe = await send(client, route, scene, principal, path_params=without_ids(scene))
        assert probe.status_code == expected, probe.text


async def test_the_assigned_responder_loses_the_medical_details_when_the_incident_closes(
    client: httpx.AsyncClient, new_scene: NewScene
) -> None:
    scene = await new_scene()
    url = f"/v1/incidents/{scene.incident_id}"

    async def medical_seen_by(principal: str) -> list[str]:
        response = await client.get(url, headers=scene.headers[principal])
        assert response.status_code == 200, response.text
        return found(response.text, MEDICAL)

    assert await medical_seen_by(ASSIGNED) == sorted(MEDICAL)
    assert await medical_seen_by(OFFERED) == []
    resolved = await client.post(
        f"{url}/resolve",
        json={"outcome": "treated_on_scene"},
        headers=scene.headers[ASSIGNED],
    )
    assert resolved.status_code == 200, resolved.text
    assert await medical_seen_by(ASSIGNED) == []
    assert await medical_seen_by(ELDER_A) == []
    assert await medical_seen_by(OFFICER_A) == sorted(MEDICAL)
    offered = await client.get(url, headers=scene.headers[OFFERED])
    assert [o["responder_id"] for o in offered.json()["offers"]] == [str(scene.offered_id)]


async def test_a_pending_offer_shows_who_and_where_but_nothing_medical(
    client: httpx.AsyncClient, sessionmaker: Maker, settings: Settings, outsiders: Outsiders
) -> None:
    cast = await build_cast(sessionmaker, settings, outsiders)
    incident = await sos(client, cast.world)
    mine = await client.get("/v1/responders/me/offers", headers=cast.headers[OFFERED])
    assert [o["incident_id"] for o in mine.json()] == [incident]
    detail = await client.get(f"/v1/incidents/{incident}", headers=cast.headers[OFFERED])
    assert detail.status_code == 200
    for answer in (mine, detail):
        assert found(answer.text, (ELDER_A_NAME, *MEDICAL)) == [ELDER_A_NAME]
    theirs = await client.get("/v1/responders/me/offers", headers=cast.headers[NOT_OFFERED])
    assert theirs.json() == []
    elsewhere = await client.get(f"/v1/incidents/{incident}", headers=cast.headers[NOT_OFFERED])
    assert_problem(elsewhere, 404)


async def test_positions_are_not_for_a_responder_merely_offered(
    client: httpx.AsyncClient, new_scene: NewScene
) -> None:
    scene = await new_scene()

    async def position_of_who_is_coming(principal: str) -> Any:
        response = await client.get(
            f"/v1/incidents/{scene.incident_id}", headers=scene.headers[principal]
        )
        assert response.status_code == 200, response.text
        incident = response.json()
        assert incident["responder"]["id"] == str(scene.assigned_id)
        return incident["responder"]["location"]

    assert await position_of_who_is_coming(OFFERED) is None
    for principal in (OFFICER_A, ASSIGNED, ELDER_A):
        assert await position_of_who_is_coming(principal) is not None, principal


async def test_a_responder_reporting_for_an_elder_learns_no_more_than_get_would_show(
    client: httpx.AsyncClient, new_scene: NewScene
) -> None:
    scene = await new_scene()
    joined = await client.post(
        f"/v1/orgs/{scene.org_id}/incidents",
        json={"elder_id": str(scene.world.elder_id)},
        headers=scene.headers[NOT_OFFERED],
    )
    assert joined.status_code == 200, joined.text
    incident = joined.json()
    assert (incident["id"], incident["state"]) == (str(scene.incident_id), "accepted")
    assert (incident["responder"], incident["offers"], incident["events"]) == (None, [], [])
    assert incident["trail"] == [] and incident["elder"]["medical"] is None
    again = await client.get(
        f"/v1/incidents/{scene.incident_id}", headers=scene.headers[NOT_OFFERED]
    )
    assert_problem(again, 404)


# Organization B's ids inside a body sent by organization A's officer: each must be
# answered exactly like an id that does not exist (never acted on, never confirmed).


@dataclass(frozen=True)
class Foreign:
    responder_id: uuid.UUID
    zone_id: uuid.UUID
    elder_id: uuid.UUID


FOREIGN_IDS_IN_BODIES: dict[str, tuple[str, Callable[[Foreign], dict[str, Any]]]] = {
    "zone team": (
        "PUT /v1/zones/{zone_id}/responders",
        lambda f: {"responder_ids": [str(f.responder_id)]},
    ),
    "manual dispatch": (
        "POST /v1/incidents/{incident_id}/assign",
        lambda f: {"responder_id": str(f.responder_id)},
    ),
    "new responder's zones": (
        "POST /v1/orgs/{org_id}/responders",
        lambda f: {
            "name": "New",
            "email": f"{unique('r')}@a.example.org",
            "password": PASSWORD,
            "phone": "0812223333",
            "kind": "volunteer",
            "zone_ids": [str(f.zone_id)],
        },
    ),
    "incident on behalf": (
        "POST /v1/orgs/{org_id}/incidents",
        lambda f: {"elder_id": str(f.elder_id)},
    ),
}


@pytest.mark.parametrize("case", FOREIGN_IDS_IN_BODIES)
async def test_another_organizations_ids_in_a_body_are_unknown(
    case: str, client: httpx.AsyncClient, new_scene: NewScene, outsiders: Outsiders
) -> None:
    route, make_body = FOREIGN_IDS_IN_BODIES[case]
    method, path = route.split(" ", 1)
    scene = await new_scene()
    world_b = outsiders.world_b
    of_b = Foreign(world_b.responder_id, world_b.zone_ids["North"], world_b.elder_id)
    made_up = Foreign(uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    answers = []
    for ids in (of_b, made_up):
        response = await client.request(
            method,
            path.format(**scene.path_params()),
            json=make_body(ids),
            headers=scene.headers[OFFICER_A],
        )
        assert 400 <= response.status_code < 500, response.text
        body = assert_problem(response, response.status_code)
        answers.append((response.status_code, body["title"]))
        assert found(response.text, {str(world_b.org_id), *MEDICAL}) == []
    assert answers[0] == answers[1]
