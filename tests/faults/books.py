"""The books after a fault run: SOS answered and stored, deadlines fired, outbox messages
sent at least once and at most twice (or failed with an event), and the figures."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tests.faults.breaker import Fault
from tests.faults.phones import Attempt, Tries
from tests.stress.answers import SosAnswer
from tests.stress.checks import Snapshot, conninfo


def check_sos_retries(tries: dict[str, Tries], snap: Snapshot) -> tuple[list[str], Counter[str]]:
    """Every SOS a fault hit (a 503, a connection error, a timeout) got through on the
    phone's retry and is stored exactly once; every 503 said whom to call."""
    problems: list[str] = []
    hit: Counter[str] = Counter()
    stored = {key for (_, key) in snap.sos_requests}
    for key, t in tries.items():
        failed = [
            a.status for a in t.attempts if not (isinstance(a.status, int) and a.status < 500)
        ]
        for status in set(map(str, failed)):
            hit[status] += 1
        if failed:
            hit["keys hit"] += 1
        if t.final not in (200, 201, 429):
            problems.append(f"SOS key {key}: attempts {[a.status for a in t.attempts]}, never in")
        elif t.final != 429 and key not in stored:
            problems.append(f"SOS key {key}: answered {t.final} but not stored")
        for body in t.bodies_503:
            if not body.get("fallback_phone") or not body.get("retry_after"):
                problems.append(f"SOS key {key}: a 503 without fallback_phone/Retry-After: {body}")
    return problems, hit


def lost_201s(tries: dict[str, Tries], answers: list[SosAnswer]) -> list[SosAnswer]:
    """A 201 the phone never read (its attempt timed out or was cut after the commit):
    its retry was answered 200, the replay. Stands in for it in the stress check."""
    created = {a.incident_id for a in answers if a.status == 201}
    lost = []
    for a in answers:
        t = tries.get(a.key)
        cut = t is not None and any(x.status in ("timeout", "error") for x in t.attempts)
        if cut and a.status == 200 and a.replayed and a.incident_id not in created:
            lost.append(SosAnswer(a.elder_id, a.key, "sos_lost", 201, a.incident_id, False))
            created.add(a.incident_id)
    return lost


@dataclass
class Outbox:
    stored: int = 0
    sent: int = 0
    failed: int = 0
    pending: int = 0
    lost: int = 0
    duplicated: int = 0
    accepted_sends: int = 0
    resent: int = 0  # accepted sends beyond the first of each message
    duplicated_by_window: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, int]:
        return {
            "stored": self.stored,
            "sent": self.sent,
            "failed (message.failed)": self.failed,
            "pending": self.pending,
            "accepted by FCM/SMS": self.accepted_sends,
            "duplicated": self.duplicated,
            "resent": self.resent,
            "lost": self.lost,
        }


async def _rows(database_url: str, sql: str, org: str, **more: Any) -> list[dict[str, Any]]:
    async with (
        await psycopg.AsyncConnection.connect(conninfo(database_url)) as conn,
        conn.cursor(row_factory=dict_row) as cur,
    ):
        await cur.execute(sql, {"org": org, **more})
        return list(await cur.fetchall())


def _window(at: float, faults: list[Fault], wall_to_mono: float) -> str:
    """The fault last started before a message's first send: its resend is that fault's."""
    started = [f for f in faults if f.started - 1 <= at - wall_to_mono]
    return started[-1].name if started else "no fault"


async def check_outbox(
    database_url: str,
    org: str,
    snap: Snapshot,
    sends: list[dict[str, Any]],
    faults: list[Fault],
    wall_to_mono: float,
) -> Outbox:
    """At least once, at most twice (the crash window: the sender died, or was cut off
    at its lease budget, after the provider accepted and before the result was
    committed), or failed with a ``message.failed`` event."""
    rows = await _rows(
        database_url,
        "select id::text, route, state::text, attempts from outbox_message "
        "where organization_id = %(org)s",
        org,
    )
    book = Outbox(stored=len(rows))
    accepted: dict[str, list[dict[str, Any]]] = {}
    for s in sends:
        if s["status"] == 200 and s["id"]:
            accepted.setdefault(s["id"], []).append(s)
    book.accepted_sends = sum(len(v) for v in accepted.values())
    failed_events = {
        e["data"].get("message_id") for e in snap.events if e["name"] == "message.failed"
    }
    ids = {r["id"] for r in rows}
    for row in rows:
        got = accepted.get(row["id"], [])
        if row["state"] == "pending":
            book.pending += 1
            book.problems.append(f"message {row['id']} ({row['route']}) still pending")
        elif row["state"] == "failed":
            book.failed += 1
            if row["id"] not in failed_events:
                book.problems.append(f"message {row['id']} failed without message.failed")
        else:
            book.sent += 1
            if not got:
                book.lost += 1
                book.problems.append(f"message {row['id']} ({row['route']}) sent but never arrived")
        if len(got) > 1:
            book.resent += len(got) - 1
            book.duplicated += 1
            book.duplicated_by_window[_window(got[0]["at"], faults, wall_to_mono)] += 1
        if len(got) > 2:
            book.problems.append(f"message {row['id']} ({row['route']}) arrived {len(got)} times")
    strays = set(accepted) - ids
    if strays:
        book.problems.append(f"{len(strays)} message ids arrived that were never stored")
    return book


async def check_deadlines(
    database_url: str, org: str, snap: Snapshot, due_before: datetime
) -> tuple[list[str], int]:
    """Every deadline that came due fired (fired_at set), and none twice: one
    offer.expired per offer, one incident.escalated per incident and level."""
    rows = await _rows(
        database_url,
        "select d.id, d.kind::text, d.incident_id::text, d.fired_at, d.due_at < %(cut)s as due "
        "from deadline d where d.organization_id = %(org)s",
        org,
        cut=due_before,
    )
    problems = [
        f"deadline {r['id']} ({r['kind']}, incident {r['incident_id']}) due but never fired"
        for r in rows
        if r["due"] and r["fired_at"] is None
    ]
    expired = Counter(
        e["data"].get("offer_id") for e in snap.events if e["name"] == "offer.expired"
    )
    problems += [f"offer {o} expired {n} times" for o, n in expired.items() if n > 1]
    escalated = Counter(
        (e["incident_id"], e["data"].get("level"))
        for e in snap.events
        if e["name"] == "incident.escalated"
    )
    problems += [
        f"incident {i} escalated to {lv} {n} times" for (i, lv), n in escalated.items() if n > 1
    ]
    return problems, sum(r["fired_at"] is not None for r in rows)


def fault_timings(
    faults: list[Fault], probes: list[Attempt], sos: list[Attempt]
) -> list[dict[str, Any]]:
    """For each fault: seconds from its start to the first refusal (a probe of /readyz
    answered 503 or not at all; for SOS, a 503 or a connection error) and to the last
    one (recovered: every later answer good)."""
    out = []
    for n, fault in enumerate(faults):
        until = faults[n + 1].started if n + 1 < len(faults) else fault.ended + 60
        row: dict[str, Any] = {
            "fault": fault.name,
            "lasted_s": round(fault.ended - fault.started, 1),
        }
        for label, seen in (("readyz", probes), ("sos", sos)):
            bad = [
                a.at
                for a in seen
                if fault.started <= a.at < until and a.status not in (200, 201, 429, "timeout")
            ]
            row[f"{label} first refusal s"] = round(bad[0] - fault.started, 2) if bad else None
            row[f"{label} recovered s"] = round(bad[-1] - fault.started, 2) if bad else None
        if fault.note:
            row["note"] = fault.note
        out.append(row)
    return out
