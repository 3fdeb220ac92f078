"""The SQL statements one SOS costs (issue 17: under a surge, round trips are most of an
SOS's time). Before this guard an SOS that opened an incident with one offer ran 24; the
new incident was read back after its INSERT, its wave updated at once, the offers of a
brand-new incident looked up and its zone's name read twice. Then 19: the elder and
the organization were read apart, and the dispatch policy on every SOS."""

import uuid
from collections import Counter

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.factories import World
from tests.test_list_statements import statements_on

MAX_STATEMENTS = 17


async def test_an_sos_opens_its_incident_in_few_statements(
    client: httpx.AsyncClient, engine: AsyncEngine, world: World
) -> None:
    # The policy as any earlier SOS or wave of the organization would have read it.
    policy = await client.get(f"/v1/orgs/{world.org_id}/dispatch-policy", headers=world.officer)
    assert policy.status_code == 200, policy.text
    with statements_on(engine) as seen:
        r = await client.post(
            "/v1/sos",
            json={"lat": 16.885, "lon": 103.255, "accuracy_m": 10},
            headers={**world.elder, "Idempotency-Key": str(uuid.uuid4())},
        )
    assert r.status_code == 201, r.text
    first_words = Counter(" ".join(s.split()[:3]) for s in seen)
    assert first_words["SELECT care_zone.id, care_zone.name"] == 0  # the match named it
    assert not [s for s in seen if s.startswith("UPDATE incident")]
    assert not [s for s in seen if s.startswith("SELECT offer.responder_id")]
    assert not [s for s in seen if "FROM dispatch_policy" in s]  # read within POLICY_CACHE_S
    assert not [s for s in seen if s.startswith("SELECT organization.")]  # with the elder
    after_insert = seen[[s.startswith("INSERT INTO incident ") for s in seen].index(True) + 1]
    assert not after_insert.startswith("SELECT incident.id")
    assert len(seen) <= MAX_STATEMENTS, "\n".join(s.split("\n")[0][:120] for s in seen)


async def test_a_responders_fix_is_one_statement_besides_the_account_and_the_limit(
    client: httpx.AsyncClient, engine: AsyncEngine, world: World
) -> None:
    """A moving responder's fix (location ingest): one UPDATE with RETURNING, no locked
    read of the responder before it, no separate look-up of their incidents. Before: 5."""
    url = "/v1/responders/me/location"
    with statements_on(engine) as seen:
        r = await client.post(url, json={"lat": 16.886, "lon": 103.256}, headers=world.responder)
    assert r.status_code == 204, r.text
    assert [s.split()[0] for s in seen if not s.startswith("SELECT app_user.")] == [
        "INSERT",  # the rate limit's UPSERT
        "UPDATE",  # the fix, returning the incidents they are assigned to
    ], "\n".join(s.split("\n")[0][:120] for s in seen)
