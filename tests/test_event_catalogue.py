"""The event catalogue: every name has a payload type and an audience, and the live
channel and the HTTP timeline show each event to exactly that audience (deny by
default: a name without a reader reaches the officers alone)."""

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter
from sqlalchemy import select
from websockets.asyncio.client import connect

from core.events.catalogue import CATALOGUE, EventName, Reader, spec_of
from core.events.log import record_event
from core.events.models import IncidentEvent
from core.settings import Settings
from core.uow import unit_of_work
from tests.authz_scene import (
    ASSIGNED,
    ELDER_A,
    ELDER_B,
    NOT_OFFERED,
    OFFERED,
    OFFICER_A,
    AuthzScene,
    Maker,
    build_cast,
    build_outsiders,
    hash_each_password_once,
    start_incident,
)
from tests.live_support import ServerProcess, bearer_token, drain, running_server

Data = dict[str, Any]


def check_payload(name: EventName, data: Data) -> None:
    """``data`` has every required key of the payload type, no other, of the right types."""
    payload = CATALOGUE[name].payload
    assert set(payload.__required_keys__) <= set(data) <= set(payload.__annotations__), (
        name,
        sorted(data),
    )
    TypeAdapter(payload).validate_python(data)


def test_every_event_name_has_a_payload_type_and_an_audience() -> None:
    assert set(CATALOGUE) == set(EventName)
    for name, spec in CATALOGUE.items():
        assert spec.readers <= set(Reader), name
        assert hasattr(spec.payload, "__required_keys__"), f"{name}: payload is not a TypedDict"
        if spec.shown_keys is not None:
            assert spec.shown_keys <= set(spec.payload.__annotations__), name
    assert spec_of("something.new") is None


async def test_every_stored_event_fits_its_payload_type(sessionmaker: Maker) -> None:
    """Whatever the suite has recorded so far (this file runs after the dispatch, live
    and privacy tests) matches the catalogue's payload types, key for key."""
    async with sessionmaker() as session:
        rows = (await session.execute(select(IncidentEvent.name, IncidentEvent.data))).all()
    erased_keys = {"location"}  # erasure coarsens, it does not invent keys
    for name, data in rows:
        spec = spec_of(name)
        assert spec is not None, name
        if set(data) - erased_keys < set(spec.payload.__required_keys__) - erased_keys:
            continue  # an erased elder's anonymised event keeps only some keys
        check_payload(EventName(name), data)


# --- each reader, exactly its events ------------------------------------------------

# Whose event a sample is: the responder who was offered (and not chosen), or the one
# assigned; None for events about no responder.
OFFERED_ONE, ASSIGNED_ONE = "offered", "assigned"
Sample = Callable[[str], Data]


def _offer(responder: str, **extra: Any) -> Data:
    return {"offer_id": str(uuid.uuid4()), "responder_id": responder, **extra}


SAMPLES: dict[EventName, Sample] = {
    EventName.INCIDENT_OPENED: lambda r: {
        "elder_id": str(uuid.uuid4()),
        "trigger": "button",
        "location": {"lat": 16.885, "lon": 103.255},
        "accuracy_m": 8.0,
        "location_source": "gps",
        "zone": {"id": str(uuid.uuid4()), "name": "North", "covers": True},
        "battery_pct": 40,
        "opened_by_user_id": None,
    },
    EventName.INCIDENT_JOINED: lambda r: {
        "trigger": "fall",
        "location": None,
        "accuracy_m": None,
        "location_updated": False,
        "battery_pct": None,
        "by_user_id": None,
        "has_idempotency_key": True,
    },
    EventName.OFFER_SENT: lambda r: _offer(
        r, wave=1, expires_at="2026-11-22T00:00:00+00:00", distance_m=120, in_zone_team=True
    ),
    EventName.OFFER_RECEIVED: lambda r: _offer(r, via="http"),
    EventName.OFFER_UNRECEIVED: lambda r: _offer(r, fallback="sms"),
    EventName.OFFER_DECLINED: lambda r: _offer(r, wave=1),
    EventName.OFFER_EXPIRED: lambda r: _offer(r, wave=1),
    EventName.OFFER_WITHDRAWN: lambda r: _offer(r, reason="accepted_by_other"),
    EventName.INCIDENT_ACCEPTED: lambda r: {
        "responder_id": r,
        "offer_id": None,
        "by": "officer",
        "officer_id": None,
        "previous_responder_id": None,
    },
    EventName.INCIDENT_ESCALATED: lambda r: {
        "level": 2,
        "to": "fallback",
        "reason": "officer",
        "officer_id": None,
        "fallback_phone": "1669",
        "handoff": {"elder": {"conditions": ["SECRET-CONDITION"]}},
    },
    EventName.INCIDENT_ON_SCENE: lambda r: {"responder_id": r},
    EventName.INCIDENT_ARRIVAL_OVERDUE: lambda r: {"responder_id": r, "accepted_at": None},
    EventName.INCIDENT_RESOLVED: lambda r: {
        "outcome": "treated_on_scene",
        "note": None,
        "by": "assigned",
        "user_id": r,
    },
    EventName.INCIDENT_CANCELLED: lambda r: {"reason": "test", "by": "officer", "user_id": None},
    EventName.RESPONDER_LOCATION: lambda r: {
        "responder_id": r,
        "lat": 16.886,
        "lon": 103.256,
        "accuracy_m": 5.0,
        "recorded_at": "2026-11-22T00:00:00+00:00",
        "distance_m": 150,
        "eta_s": 18,
    },
    EventName.RESPONDER_REMOVED: lambda r: {"responder_id": r},
    EventName.ELDER_LOCATION: lambda r: {
        "lat": 16.885,
        "lon": 103.255,
        "accuracy_m": 12.0,
        "recorded_at": "2026-11-22T00:00:00+00:00",
    },
    EventName.MESSAGE_FAILED: lambda r: {
        "message_id": str(uuid.uuid4()),
        "kind": "offer",
        "route": "push",
        "recipient_user_id": r,
        "attempts": 6,
        "error": "UNREGISTERED",
    },
    EventName.HANDOFF_SENT: lambda r: {
        "message_id": str(uuid.uuid4()),
        "version": 1,
        "cause": "handed_off",
    },
    EventName.HANDOFF_DELIVERED: lambda r: {
        "message_id": str(uuid.uuid4()),
        "version": 1,
        "attempts": 2,
        "reference": "KK-1669-0042",
    },
    EventName.HANDOFF_ANSWERED: lambda r: {
        "answer_id": "a-1",
        "status": "rejected",
        "reason": "no ambulance free",
        "disposition": None,
        "reference": None,
        "answered_at": "2026-11-22T00:00:00+00:00",
    },
    EventName.CHECKIN_RECEIVED: lambda r: {
        "captured_at": "2026-11-22T02:05:00+00:00",
        "verdict": "late",
        "due_at": "2026-11-22T02:00:00+00:00",
        "by_user_id": None,
    },
}

ALL = frozenset({OFFERED, ASSIGNED, ELDER_A})
OWN = "own"  # the responder the event is about (offered or assigned), nobody else
# Written from the policy, not from the catalogue: who besides the officers sees each
# event about ``whose`` responder. The elder's device never sees offers or failures.
EXPECTED: dict[EventName, frozenset[str] | str] = {
    EventName.INCIDENT_OPENED: ALL,
    EventName.INCIDENT_JOINED: ALL,
    EventName.OFFER_SENT: OWN,
    EventName.OFFER_RECEIVED: OWN,
    EventName.OFFER_UNRECEIVED: frozenset(),
    EventName.OFFER_DECLINED: OWN,
    EventName.OFFER_EXPIRED: OWN,
    EventName.OFFER_WITHDRAWN: OWN,
    EventName.INCIDENT_ACCEPTED: ALL,
    EventName.INCIDENT_ESCALATED: ALL,
    EventName.INCIDENT_ON_SCENE: ALL,
    EventName.INCIDENT_ARRIVAL_OVERDUE: frozenset({ASSIGNED}),  # only about themselves
    EventName.INCIDENT_RESOLVED: ALL,
    EventName.INCIDENT_CANCELLED: ALL,
    EventName.RESPONDER_LOCATION: frozenset({ELDER_A, ASSIGNED}),  # assigned: own track
    EventName.RESPONDER_REMOVED: frozenset(),
    EventName.ELDER_LOCATION: frozenset({ELDER_A, ASSIGNED}),
    EventName.MESSAGE_FAILED: frozenset(),
    # The 1669 centre's delivery receipts and answers: officers only.
    EventName.HANDOFF_SENT: frozenset(),
    EventName.HANDOFF_DELIVERED: frozenset(),
    EventName.HANDOFF_ANSWERED: frozenset(),
    EventName.CHECKIN_RECEIVED: ALL,
}
WATCHERS = (OFFICER_A, OFFERED, ASSIGNED, ELDER_A, NOT_OFFERED, ELDER_B)


def expected_readers(name: EventName, whose: str | None) -> set[str]:
    rule = EXPECTED[name]
    readers = {OFFICER_A}
    if rule == OWN:
        readers.add(OFFERED if whose == OFFERED_ONE else ASSIGNED)
    else:
        assert isinstance(rule, frozenset)
        readers |= rule
        if name in (EventName.INCIDENT_ARRIVAL_OVERDUE,) and whose != ASSIGNED_ONE:
            readers.discard(ASSIGNED)
        if name is EventName.RESPONDER_LOCATION and whose != ASSIGNED_ONE:
            readers.discard(ASSIGNED)
    return readers


def test_the_expected_table_names_every_event() -> None:
    assert set(EXPECTED) == set(EventName) == set(SAMPLES)
    for name, sample in SAMPLES.items():
        check_payload(name, sample(str(uuid.uuid4())))


@pytest.fixture(scope="module", autouse=True)
def _fast_passwords() -> Iterator[None]:
    with hash_each_password_once():
        yield


@pytest.fixture(scope="module")
def server(settings: Settings) -> Iterator[ServerProcess]:
    with running_server(settings) as process:
        yield process


def _whose_cases(name: EventName) -> tuple[str | None, ...]:
    """Events that name a responder are recorded about each of the two; others once."""
    about = _about_data(SAMPLES[name]("probe"), {"probe": "probe"})
    return (OFFERED_ONE, ASSIGNED_ONE) if about == "probe" else (None,)


async def _record_every_sample(sessionmaker: Maker, scene: AuthzScene) -> None:
    responder_of = {OFFERED_ONE: scene.offered_id, ASSIGNED_ONE: scene.assigned_id}
    async with unit_of_work(sessionmaker) as session:
        for name, sample in SAMPLES.items():
            for whose in _whose_cases(name):
                record_event(
                    session,
                    organization_id=scene.org_id,
                    incident_id=scene.incident_id,
                    name=name,
                    data=sample(str(responder_of[whose]) if whose else str(uuid.uuid4())),
                )


@pytest.mark.slow
async def test_each_reader_gets_exactly_the_events_the_catalogue_grants(
    server: ServerProcess, client: httpx.AsyncClient, sessionmaker: Maker, settings: Settings
) -> None:
    outsiders = await build_outsiders(sessionmaker, settings, client)
    cast = await build_cast(sessionmaker, settings, outsiders)
    scene = await start_incident(sessionmaker, client, cast)
    sockets = {}
    for principal in WATCHERS:
        ws = await connect(server.ws)
        hello = {"type": "hello", "token": bearer_token(cast.headers[principal]), "after": None}
        await ws.send(json.dumps(hello))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "welcome"
        sockets[principal] = ws
    await _record_every_sample(sessionmaker, scene)
    frames = dict(
        zip(
            sockets,
            await asyncio.gather(*(drain(ws, quiet_s=1.0) for ws in sockets.values())),
            strict=True,
        )
    )
    for ws in sockets.values():
        await ws.close()
    timeline = {
        p: (await client.get(f"/v1/incidents/{scene.incident_id}", headers=cast.headers[p]))
        for p in (OFFICER_A, OFFERED, ASSIGNED, ELDER_A)
    }

    for name in EventName:
        for whose in _whose_cases(name):
            readers = expected_readers(name, whose)
            got_live = {
                p
                for p, fs in frames.items()
                if any(f["event"] == name and _about(f, scene) == whose for f in fs)
            }
            assert got_live == readers, f"{name} about {whose}: live to {sorted(got_live)}"
            got_http = {
                p
                for p, response in timeline.items()
                if any(
                    e["event"] == name and _about(e, scene) == whose
                    for e in response.json()["events"]
                )
            }
            assert got_http == readers & set(timeline), f"{name} about {whose}: HTTP"
    # The dossier stays with the officers.
    for principal in (OFFERED, ASSIGNED, ELDER_A):
        assert "SECRET-CONDITION" not in json.dumps(frames[principal])
        assert "SECRET-CONDITION" not in timeline[principal].text
    assert "SECRET-CONDITION" in json.dumps(frames[OFFICER_A])


def _about_data(data: Data, names: dict[str, str]) -> str | None:
    who = data.get("responder_id") or data.get("user_id") or data.get("recipient_user_id")
    return names.get(str(who))


def _about(frame: Data, scene: AuthzScene) -> str | None:
    names = {str(scene.offered_id): OFFERED_ONE, str(scene.assigned_id): ASSIGNED_ONE}
    return _about_data(frame.get("data", {}), names)
