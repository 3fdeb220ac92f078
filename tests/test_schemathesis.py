"""Schemathesis against the app's own OpenAPI document, as each kind of principal
(issue 12, "Bad input, generated"): zero 5xx.

Every operation of the document the app serves (``/openapi.json``) is run as the
admin, an officer, a responder and an elder's device, each in a scene of its own
(tests/authz_scene.py: an incident under way, accepted by that responder), so one
principal's deletions cannot starve the others' runs. Schemathesis generates each
case, valid (positive) or not (negative), from the operation's schema; positive
cases name the scene's real ids in their paths, so they reach the code behind the
authorization checks, and negative ones keep what was generated.

The cases go through the in-process app on the suite's event loop (the ``client``
fixture): Schemathesis's own strategies are drawn inside an ordinary Hypothesis test,
not through its pytest plugin or its ASGI transport, which would start a second copy
of the app on an event loop of their own.
"""

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.app import create_app
from core.settings import Settings
from tests.authz_scene import (
    ADMIN,
    ASSIGNED,
    ELDER_A,
    OFFICER_A,
    AuthzScene,
    build_outsiders,
    build_scene,
    hash_each_password_once,
)
from tests.fuzz_support import assert_not_5xx, fuzz_settings, note_request

Maker = async_sessionmaker[AsyncSession]
# The four kinds of principal, each as the one of its kind that reaches the most code.
PRINCIPALS = {"admin": ADMIN, "officer": OFFICER_A, "responder": ASSIGNED, "elder": ELDER_A}


# What ends the scene's incident or erases its elder runs last, so that the operations
# before it meet an incident under way (the order is the items' order in a run).
ENDINGS = (
    ("POST", "/v1/incidents/{incident_id}/resolve"),
    ("POST", "/v1/incidents/{incident_id}/cancel"),
    ("DELETE", "/v1/elders/{elder_id}"),
)


def _operations() -> list[tuple[str, str]]:
    """The document's operations, for collection: the app builds its document without
    a database (the test itself reads the one it serves)."""
    app = create_app(Settings(database_url="postgresql+psycopg://unused/unused"))
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    operations = [(method.upper(), path) for path, item in paths.items() for method in item]
    return sorted(operations, key=lambda op: ENDINGS.index(op) if op in ENDINGS else -1)


OPERATIONS = _operations()


@pytest.fixture(scope="module")
async def openapi(client: httpx.AsyncClient) -> BaseSchema:
    response = await client.get("/openapi.json")
    assert response.status_code == 200, response.text
    return schemathesis.openapi.from_dict(response.json())


@pytest.fixture(scope="module")
async def scenes(
    sessionmaker: Maker, settings: Settings, client: httpx.AsyncClient
) -> dict[str, AuthzScene]:
    """A scene of its own for each kind of principal."""
    outsiders = await build_outsiders(sessionmaker, settings, client)
    with hash_each_password_once():
        return {
            kind: await build_scene(sessionmaker, settings, client, outsiders)
            for kind in PRINCIPALS
        }


_STRATEGIES: dict[tuple[str, str], st.SearchStrategy[Case[Any]]] = {}


def cases(operation: APIOperation[Any, Any, Any, Any]) -> st.SearchStrategy[Case[Any]]:
    """Valid and invalid requests, as Schemathesis draws them from the operation's schema."""
    key = (operation.method, operation.path)
    if key not in _STRATEGIES:
        _STRATEGIES[key] = st.one_of(
            [
                operation.as_strategy(generation_mode=mode)
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
            ]
        )
    return _STRATEGIES[key]


def use_scene_ids(case: Case[Any], scene: AuthzScene) -> None:
    if case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
        return
    for name, value in scene.path_params().items():
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = str(value)


async def send(
    client: httpx.AsyncClient, case: Case[Any], headers: dict[str, str]
) -> httpx.Response:
    kwargs = case.as_transport_kwargs(base_url=str(client.base_url), headers=headers)
    kwargs.pop("cookies", None)  # none in this API; httpx wants them on the client
    data = kwargs.pop("data", None)
    if isinstance(data, dict):
        kwargs["data"] = data  # a form
    elif data is not None:
        kwargs["content"] = data  # raw bytes or text (httpx's name for them)
    shown = {k: v for k, v in kwargs.items() if k not in ("method", "url", "headers")}
    extra = {k: v for k, v in kwargs["headers"].items() if k.lower() != "authorization"}
    note_request(kwargs["method"], kwargs["url"], repr(shown).encode(), **extra)
    return await client.request(**kwargs)


@pytest.mark.parametrize("kind", sorted(PRINCIPALS))
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
@pytest.mark.slow
@fuzz_settings(max_examples=8)
@given(data=st.data())
async def test_no_operation_answers_a_5xx(
    client: httpx.AsyncClient,
    openapi: BaseSchema,
    scenes: dict[str, AuthzScene],
    kind: str,
    method: str,
    path: str,
    data: st.DataObject,
) -> None:
    case = data.draw(cases(openapi[path][method]), label="case")
    scene = scenes[kind]
    use_scene_ids(case, scene)
    response = await send(client, case, scene.headers[PRINCIPALS[kind]])
    assert_not_5xx(response)
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
