"""What must hold after a stress run, read from the database once the run has settled.

"Settled" means: the load has stopped, every incident still active was cancelled by an
officer, the outbox has drained and the worker has stopped. Nothing can change any
more, so every offer must be in a final state: accepted, declined or withdrawn
(an offer merely *expired* can still be accepted late, and closing its incident
withdraws it; a pending one must not survive its incident).
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from core.db import libpq_conninfo
from dispatch.enums import IncidentState, OfferState
from dispatch.state_machine import IllegalTransition, move_incident, move_offer
from tests.stress.answers import SosAnswer
from tests.stress.board import ACTIVE
from tests.stress.live import SLOW_CONSUMER, UNAUTHENTICATED, LiveChain

FINAL_OFFER_STATES = frozenset({"accepted", "declined", "withdrawn"})
# What an elder's phone is shown of its own incidents (API.md: states, who is coming,
# from where); independent of when the socket read it, so exactly checkable. The event
# catalogue, where there is one, says it; before it existed (9818a84), API.md did.
ELDER_SEES_BY_CONTRACT = frozenset(
    {
        "incident.opened",
        "incident.joined",
        "incident.accepted",
        "incident.escalated",
        "incident.on_scene",
        "incident.resolved",
        "incident.cancelled",
        "responder.location",
        "elder.location",
    }
)
# A responder's own offer events: owed whatever else they were shown of the incident
# (the offer exists before any of them is written, so the responder is always a reader).
OWN_OFFER_EVENTS = frozenset(
    {"offer.sent", "offer.received", "offer.declined", "offer.expired", "offer.withdrawn"}
)


def _elder_sees() -> frozenset[str]:
    try:
        from core.events.catalogue import CATALOGUE, Reader
    except ImportError:
        return ELDER_SEES_BY_CONTRACT
    return frozenset(name.value for name, spec in CATALOGUE.items() if Reader.ELDER in spec.readers)


ELDER_SEES = _elder_sees()
STATE_EVENTS = {
    "incident.accepted": IncidentState.ACCEPTED,
    "incident.on_scene": IncidentState.ON_SCENE,
    "incident.resolved": IncidentState.RESOLVED,
    "incident.cancelled": IncidentState.CANCELLED,
}
OFFER_EVENTS = {
    "offer.declined": OfferState.DECLINED,
    "offer.expired": OfferState.EXPIRED,
    "offer.withdrawn": OfferState.WITHDRAWN,
}


@dataclass
class Snapshot:
    org_id: str
    incidents: dict[str, dict[str, Any]]
    offers: dict[str, dict[str, Any]]
    events: list[dict[str, Any]]  # in id order
    sequence_last: int | None
    sos_requests: dict[tuple[str, str], str]  # (elder id, key) -> incident id

    @property
    def event_by_id(self) -> dict[int, dict[str, Any]]:
        return {e["id"]: e for e in self.events}


def conninfo(database_url: str) -> str:
    return libpq_conninfo(database_url)  # a multi-host URL too (the failover drill)


async def _rows(conn: psycopg.AsyncConnection[Any], sql: str, org: str) -> list[dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(sql, {"org": org})
        return list(await cur.fetchall())


async def pending_outbox(database_url: str, org: str) -> int:
    async with await psycopg.AsyncConnection.connect(conninfo(database_url)) as conn:
        rows = await _rows(
            conn,
            "select count(*) as n from outbox_message "
            "where organization_id = %(org)s and state = 'pending'",
            org,
        )
    return int(rows[0]["n"])


async def take_snapshot(database_url: str, org: str) -> Snapshot:
    async with await psycopg.AsyncConnection.connect(conninfo(database_url)) as conn:
        incidents = await _rows(
            conn,
            "select id::text, elder_id::text, state, assigned_responder_id::text as assigned, "
            "escalation_level, closed_at, outcome, trigger from incident "
            "where organization_id = %(org)s",
            org,
        )
        offers = await _rows(
            conn,
            "select id::text, incident_id::text, responder_id::text, state from offer "
            "where organization_id = %(org)s",
            org,
        )
        events = await _rows(
            conn,
            "select id, incident_id::text, name, data from incident_event "
            "where organization_id = %(org)s order by id",
            org,
        )
        sequence = await _rows(
            conn, "select last_id from event_sequence where organization_id = %(org)s", org
        )
        requests = await _rows(
            conn,
            "select s.elder_id::text, s.idempotency_key, s.incident_id::text from sos_request s "
            "join elder e on e.id = s.elder_id where e.organization_id = %(org)s",
            org,
        )
    return Snapshot(
        org_id=org,
        incidents={r["id"]: r for r in incidents},
        offers={r["id"]: r for r in offers},
        events=events,
        sequence_last=int(sequence[0]["last_id"]) if sequence else None,
        sos_requests={(r["elder_id"], r["idempotency_key"]): r["incident_id"] for r in requests},
    )


# --- the database ---------------------------------------------------------------------


def check_settled(snap: Snapshot) -> list[str]:
    problems = [
        f"incident {i['id']} still {i['state']} after settling"
        for i in snap.incidents.values()
        if i["state"] in ACTIVE
    ]
    problems += [
        f"offer {o['id']} (incident {o['incident_id']}) left {o['state']} after settling"
        for o in snap.offers.values()
        if o["state"] not in FINAL_OFFER_STATES
    ]
    return problems


def check_incidents(snap: Snapshot) -> list[str]:
    """At most one accepted offer, held by the assigned responder; fields that go with
    each state; and a timeline whose state changes are legal moves ending in the state
    stored (offers likewise)."""
    problems: list[str] = []
    by_incident: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for offer in snap.offers.values():
        by_incident[offer["incident_id"]].append(offer)
    timelines: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in snap.events:
        timelines[event["incident_id"]].append(event)
    for inc in snap.incidents.values():
        iid, offers = inc["id"], by_incident[inc["id"]]
        accepted = [o for o in offers if o["state"] == "accepted"]
        if len(accepted) > 1:
            problems.append(f"incident {iid}: {len(accepted)} accepted offers")
        if accepted and accepted[0]["responder_id"] != inc["assigned"]:
            problems.append(
                f"incident {iid}: accepted offer of {accepted[0]['responder_id']} but "
                f"assigned to {inc['assigned']}"
            )
        responders = [o["responder_id"] for o in offers]
        if len(responders) != len(set(responders)):
            problems.append(f"incident {iid}: offered twice to one responder")
        if inc["state"] in ("accepted", "on_scene") and inc["assigned"] is None:
            problems.append(f"incident {iid}: {inc['state']} with nobody assigned")
        if inc["state"] in ("resolved", "cancelled") and inc["closed_at"] is None:
            problems.append(f"incident {iid}: {inc['state']} without closed_at")
        if inc["state"] == "resolved" and not inc["outcome"]:
            problems.append(f"incident {iid}: resolved without an outcome")
        if inc["escalation_level"] not in (0, 1, 2):
            problems.append(f"incident {iid}: escalation level {inc['escalation_level']}")
        problems += _replay(inc, offers, timelines[iid])
    return problems


def _replay(
    inc: dict[str, Any], offers: list[dict[str, Any]], timeline: list[dict[str, Any]]
) -> list[str]:
    iid = inc["id"]
    if not timeline or timeline[0]["name"] != "incident.opened":
        return [f"incident {iid}: the timeline does not start with incident.opened"]
    state = IncidentState.DISPATCHING
    assigned: str | None = None
    offer_states: dict[str, OfferState] = {}
    problems: list[str] = []
    for event in timeline[1:]:
        name, data = event["name"], event["data"]
        try:
            if name in STATE_EVENTS:
                state = move_incident(state, STATE_EVENTS[name])
            if name == "incident.accepted":
                assigned = data["responder_id"]
                if data.get("offer_id"):
                    offer_id = data["offer_id"]
                    offer_states[offer_id] = move_offer(offer_states[offer_id], OfferState.ACCEPTED)
            elif name == "offer.sent":
                if data["offer_id"] in offer_states:
                    problems.append(f"incident {iid}: offer {data['offer_id']} sent twice")
                offer_states[data["offer_id"]] = OfferState.PENDING
            elif name in OFFER_EVENTS:
                offer_id = data["offer_id"]
                offer_states[offer_id] = move_offer(offer_states[offer_id], OFFER_EVENTS[name])
        except (IllegalTransition, KeyError) as exc:
            problems.append(f"incident {iid}: event {event['id']} {name} is illegal: {exc!r}")
    if state.value != inc["state"]:
        problems.append(f"incident {iid}: the timeline ends {state.value}, stored {inc['state']}")
    if assigned != inc["assigned"]:
        problems.append(
            f"incident {iid}: the timeline assigns {assigned}, stored {inc['assigned']}"
        )
    stored = {o["id"]: o["state"] for o in offers}
    replayed = {k: v.value for k, v in offer_states.items()}
    if stored != replayed:
        diff = {k: (replayed.get(k), stored.get(k)) for k in stored.keys() | replayed.keys()}
        diff = {k: v for k, v in diff.items() if v[0] != v[1]}
        problems.append(f"incident {iid}: offers (timeline, stored) differ: {diff}")
    return problems


def check_one_active_per_elder(snap: Snapshot) -> list[str]:
    """In commit order (event ids), no elder ever has two incidents open at once."""
    open_of: dict[str, str] = {}
    problems = []
    for event in snap.events:
        inc = snap.incidents.get(event["incident_id"] or "")
        if inc is None or inc["elder_id"] is None:
            continue
        elder = inc["elder_id"]
        if event["name"] == "incident.opened":
            if elder in open_of:
                problems.append(
                    f"elder {elder}: incident {inc['id']} opened (event {event['id']}) while "
                    f"{open_of[elder]} was still open"
                )
            open_of[elder] = inc["id"]
        elif (
            event["name"] in ("incident.resolved", "incident.cancelled")
            and open_of.get(elder) == inc["id"]
        ):
            del open_of[elder]
    return problems


def check_event_ids(snap: Snapshot) -> list[str]:
    ids = [e["id"] for e in snap.events]
    problems = []
    if ids != list(range(1, len(ids) + 1)):
        holes = sorted(set(range(1, (max(ids) if ids else 0) + 1)) - set(ids))
        dups = len(ids) - len(set(ids))
        problems.append(f"event ids not 1..{len(ids)}: holes {holes[:20]}, duplicates {dups}")
    if ids and snap.sequence_last != ids[-1]:
        problems.append(f"event counter at {snap.sequence_last}, last event {ids[-1]}")
    return problems


def check_sos(answers: list[SosAnswer], snap: Snapshot) -> list[str]:
    """One key, one incident, however often and however concurrently it was sent; each
    201 a new incident; every incident an SOS opened was answered 201 to someone."""
    problems = []
    by_key: dict[str, set[str]] = defaultdict(set)
    created: dict[str, list[str]] = defaultdict(list)
    for a in answers:
        if a.incident_id is None:
            continue
        by_key[a.key].add(a.incident_id)
        if a.status == 201:
            created[a.incident_id].append(a.key)
        if a.replayed and a.status != 200:
            problems.append(f"SOS key {a.key}: replayed with status {a.status}")
        inc = snap.incidents.get(a.incident_id)
        if inc is None:
            problems.append(f"SOS key {a.key}: answered incident {a.incident_id}, not stored")
        elif inc["elder_id"] != a.elder_id:
            problems.append(f"SOS key {a.key}: incident {a.incident_id} is another elder's")
        stored = snap.sos_requests.get((a.elder_id, a.key))
        if stored != a.incident_id:
            problems.append(f"SOS key {a.key}: answered {a.incident_id}, recorded {stored}")
    for key, incidents in by_key.items():
        if len(incidents) > 1:
            problems.append(f"SOS key {key} gave {len(incidents)} incidents: {sorted(incidents)}")
    for incident_id, keys in created.items():
        if len(keys) > 1:
            problems.append(f"incident {incident_id} answered 201 {len(keys)} times: {keys}")
    opened_by_sos = {i["id"] for i in snap.incidents.values() if i["trigger"] != "staff"}
    if opened_by_sos != set(created):
        problems.append(
            f"incidents opened by an SOS but never answered 201: "
            f"{sorted(opened_by_sos - set(created))}; answered 201 but not opened by an SOS: "
            f"{sorted(set(created) - opened_by_sos)}"
        )
    return problems


# --- the live sockets -------------------------------------------------------------------


def owed(chain: LiveChain, snap: Snapshot) -> set[int]:
    """The events this client must get from its first connection on (see ELDER_SEES and
    OWN_OFFER_EVENTS for what is exactly checkable for phones)."""
    start = chain.start
    if start is None:
        return set()
    later = (e for e in snap.events if e["id"] > start)
    if chain.role == "officer":
        return {e["id"] for e in later}
    if chain.role == "elder":
        return {
            e["id"]
            for e in later
            if e["name"] in ELDER_SEES
            and snap.incidents.get(e["incident_id"] or "", {}).get("elder_id") == chain.principal_id
        }
    return {
        e["id"]
        for e in later
        if e["name"] in OWN_OFFER_EVENTS and e["data"].get("responder_id") == chain.principal_id
    }


def check_chain(
    chain: LiveChain, snap: Snapshot, *, revoked_expected: bool, zero: float
) -> list[str]:
    """In order, never twice, no gap inside a connection; every connection closed by
    the client, or by the server with 1011 (then resumed with ``after``) or 4401; and
    the union of the connections complete unless the client was revoked."""
    name, events = chain.name, snap.event_by_id
    due = owed(chain, snap)
    problems: list[str] = []
    for n, conn in enumerate(chain.connections):
        where = (
            f"socket {name} connection {n} (server {conn.server}, after {conn.after}, "
            f"{conn.story(zero)})"
        )
        if conn.ids != sorted(set(conn.ids)):
            problems.append(f"{where}: ids out of order or repeated: {_excerpt(conn.ids)}")
        if conn.ids and conn.ids[0] <= conn.start:
            problems.append(f"{where}: got {conn.ids[0]}, not after {conn.start}")
        for event_id in conn.ids:
            stored, frame = events.get(event_id), chain.frames.get(event_id)
            if stored is None or frame is None or frame["event"] != stored["name"]:
                problems.append(f"{where}: event {event_id} is not the stored one")
                break
        if conn.ids:
            gap = {i for i in due if conn.start < i <= conn.ids[-1]} - set(conn.ids)
            if gap:
                problems.append(
                    f"{where}: missed {len(gap)} event(s) it was owed, e.g. "
                    f"{_excerpt(sorted(gap))}, and was closed with {conn.close_code}"
                )
        if conn.errors:
            problems.append(f"{where}: error frames {conn.errors[:3]}")
        ended_ok = conn.closed_by_client or conn.close_code in (SLOW_CONSUMER, UNAUTHENTICATED)
        if not ended_ok:
            problems.append(f"{where}: closed by the server with {conn.close_code}")
        if conn.close_code == UNAUTHENTICATED and not revoked_expected:
            problems.append(f"{where}: closed 4401 though its credentials were valid")
    received = chain.received
    if len(received) != len(set(received)):
        problems.append(f"socket {name}: {len(received) - len(set(received))} events twice")
    if revoked_expected and not chain.revoked:
        problems.append(f"socket {name}: its account was disabled but it was never closed 4401")
    if not chain.revoked:
        missing = due - set(received)
        if missing:
            last = chain.connections[-1] if chain.connections else None
            problems.append(
                f"socket {name}: never got {len(missing)} event(s) it was owed, e.g. "
                f"{_excerpt(sorted(missing))}; {len(chain.connections)} connections, the last "
                f"{last.story(zero) if last else None}"
            )
    if chain.crashed is not None:
        problems.append(f"socket {name}: the client crashed: {chain.crashed!r}")
    if chain.failed_connects:
        problems.append(f"socket {name}: connections failed: {chain.failed_connects[:3]}")
    return problems


def _excerpt(values: Iterable[int]) -> str:
    values = list(values)
    return f"{values[:12]}{' ...' if len(values) > 12 else ''}"
