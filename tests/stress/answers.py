"""HTTP as the apps speak it, every answer counted by action kind and status; an answer
no client should ever get (a 5xx, a status the action cannot legitimately have, a
timeout) is a failure."""

import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.stress.scene import Person

# A client acting on what it saw a moment ago may be too late: the offer was withdrawn,
# the incident closed or reassigned. These answers are the server refusing politely.
TOO_LATE = frozenset({403, 404, 409, 429})
ALLOWED: dict[str, frozenset[int]] = {
    "sos": frozenset({200, 201, 429}),
    "sos_retry": frozenset({200, 201, 429}),
    "accept": frozenset({200}) | TOO_LATE,
    "decline": frozenset({204}) | TOO_LATE,
    "receipt_http": frozenset({204}),
    "elder_location": frozenset({204, 409, 429}),
    "responder_location": frozenset({204, 429}),
    "assigned_location": frozenset({204}) | TOO_LATE,
    "arrive": frozenset({200}) | TOO_LATE,
    "resolve": frozenset({200}) | TOO_LATE,
    "offers_poll": frozenset({200}),
    "elder_cancel": frozenset({200, 409}),
    "officer_cancel": frozenset({200, 409}),
    "officer_assign": frozenset({200, 409}),
    "officer_escalate": frozenset({200, 409}),
    "officer_resolve": frozenset({200, 409}),
    "officer_list": frozenset({200}),
    "disable": frozenset({200}),
    "settle_cancel": frozenset({200, 409}),
}


@dataclass
class SosAnswer:
    elder_id: str
    key: str
    kind: str
    status: int
    incident_id: str | None
    replayed: bool


@dataclass
class Recorder:
    """Every answer, by action kind: statuses, and the ones that are failures."""

    statuses: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    failures: list[str] = field(default_factory=list)
    sos: list[SosAnswer] = field(default_factory=list)
    socket_receipts: int = 0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def count(self, kind: str, status: int | str) -> None:
        self.statuses[kind][str(status)] += 1


class Api:
    """HTTP to a server picked at random for every request, as a load balancer would."""

    def __init__(
        self, client: httpx.AsyncClient, urls: list[str], rng: random.Random, rec: Recorder
    ) -> None:
        self.client = client
        self.urls = urls
        self.rng = rng
        self.rec = rec

    async def call(
        self,
        kind: str,
        method: str,
        path: str,
        person: Person,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
        also_allowed: frozenset[int] = frozenset(),
    ) -> httpx.Response | None:
        url = self.rng.choice(self.urls) + path
        started = time.monotonic()
        try:
            response = await self.client.request(
                method, url, json=json, headers={**person.headers, **(headers or {})}
            )
        except httpx.HTTPError as exc:
            self.rec.count(kind, "error")
            self.rec.failures.append(
                f"{kind}: {method} {url} by {person.name} failed after "
                f"{time.monotonic() - started:.1f}s: {exc!r}"
            )
            return None
        code = response.status_code
        self.rec.count(kind, code)
        self.rec.latencies[kind].append(time.monotonic() - started)
        if code >= 500 or code not in ALLOWED[kind] | also_allowed:
            self.rec.failures.append(
                f"{kind}: {method} {url} by {person.name} body={json!r} "
                f"headers={headers!r} -> {code} {response.text[:600]}"
            )
        return response
