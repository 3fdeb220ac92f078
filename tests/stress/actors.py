"""The people acting at once: elders pressing SOS (and their phones retrying), responders
answering offers, officers dispatching by hand, cancelling and escalating."""

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import httpx

from tests.stress.answers import Api, SosAnswer
from tests.stress.board import ACTIVE, Board, IncidentView
from tests.stress.live import Frame, LiveChain
from tests.stress.scene import ElderPerson, Person, ResponderPerson


class Tasks:
    """Background work started by events; awaited (never cancelled) when the run stops,
    so every request sent is answered and counted."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def join(self, timeout: float) -> None:
        if self._tasks:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*self._tasks)


class ElderActor:
    """An elder's phone: presses, retries of a press (the same Idempotency-Key), new
    presses while help is under way, positions, and now and then a cancel."""

    def __init__(self, person: ElderPerson, api: Api, rng: random.Random) -> None:
        self.person = person
        self.api = api
        self.rng = rng
        self.bodies: dict[str, dict[str, Any]] = {}  # Idempotency-Key -> its body
        self.active: str | None = None

    def on_event(self, frame: Frame) -> None:
        if frame["incident_id"] == self.active and frame["event"] in (
            "incident.resolved",
            "incident.cancelled",
        ):
            self.active = None

    def _body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "trigger": self.rng.choice(["button", "button", "fall"]),
            "battery_pct": self.rng.randint(5, 100),
        }
        if self.rng.random() < 0.7:
            lat, lon = self.person.home
            body |= {
                "lat": round(lat + self.rng.uniform(-3e-4, 3e-4), 6),
                "lon": round(lon + self.rng.uniform(-3e-4, 3e-4), 6),
                "accuracy_m": round(self.rng.uniform(4, 80), 1),
            }
        return body

    async def press(self, copies: int = 1) -> None:
        """A press; ``copies`` > 1: the phone's retries overtaking the first attempt."""
        key = str(uuid.uuid4())
        self.bodies[key] = self._body()
        await asyncio.gather(*(self._send(key, "sos") for _ in range(copies)))

    async def retry(self) -> None:
        """An earlier press sent again (a lost answer): it must give the same incident."""
        if self.bodies:
            await self._send(self.rng.choice(list(self.bodies)), "sos_retry")

    async def _send(self, key: str, kind: str) -> None:
        response = await self.api.call(
            kind,
            "POST",
            "/v1/sos",
            self.person,
            json=self.bodies[key],
            headers={"Idempotency-Key": key},
        )
        if response is None:
            return
        incident_id = None
        if response.status_code in (200, 201):
            body = response.json()
            incident_id = body["incident_id"]
            if body["state"] in ACTIVE:
                self.active = incident_id
        self.api.rec.sos.append(
            SosAnswer(
                self.person.id,
                key,
                kind,
                response.status_code,
                incident_id,
                response.headers.get("Idempotent-Replayed") == "true",
            )
        )

    async def locate(self) -> None:
        if self.active is None:
            return
        lat, lon = self.person.home
        await self.api.call(
            "elder_location",
            "POST",
            f"/v1/incidents/{self.active}/locations",
            self.person,
            json={
                "lat": round(lat + self.rng.uniform(-2e-4, 2e-4), 6),
                "lon": round(lon + self.rng.uniform(-2e-4, 2e-4), 6),
                "accuracy_m": round(self.rng.uniform(4, 40), 1),
            },
        )

    async def cancel(self) -> None:
        if self.active is not None:
            await self.api.call(
                "elder_cancel",
                "POST",
                f"/v1/incidents/{self.active}/cancel",
                self.person,
                json={"reason": "pressed by mistake"},
            )


class ResponderActor:
    """A responder's phone: learns offers from its socket (and by polling), confirms
    receipt over the socket or HTTP, accepts, declines or lets the offer expire; once
    assigned, rides there reporting positions, arrives and resolves."""

    def __init__(
        self,
        person: ResponderPerson,
        api: Api,
        rng: random.Random,
        stop: asyncio.Event,
        ignores: Callable[[str], bool] = lambda incident_id: False,
    ) -> None:
        self.person = person
        self.ignores = ignores
        self.api = api
        self.rng = rng
        self.stop = stop
        self.chain: LiveChain | None = None
        self.tasks = Tasks()
        self.seen_offers: set[str] = set()
        self.assigned: set[str] = set()
        self.disabled = False

    @property
    def id(self) -> str:
        return self.person.id

    def _also(self) -> frozenset[int]:
        # Disabled mid-run: refused (401) from then on, whatever it tries.
        return frozenset({401}) if self.disabled else frozenset()

    async def call(self, kind: str, method: str, path: str, **kw: Any) -> httpx.Response | None:
        return await self.api.call(kind, method, path, self.person, also_allowed=self._also(), **kw)

    def on_event(self, frame: Frame) -> None:
        name, data, incident_id = frame["event"], frame["data"], frame["incident_id"]
        mine = data.get("responder_id") == self.id
        if name == "offer.sent" and mine:
            self.offered(data["offer_id"], incident_id)
        elif name == "incident.accepted":
            if mine and incident_id not in self.assigned:
                self.assigned.add(incident_id)
                self.tasks.spawn(self.work(incident_id))
            elif not mine:
                self.assigned.discard(incident_id)
        elif name in ("incident.resolved", "incident.cancelled"):
            self.assigned.discard(incident_id)

    def offered(self, offer_id: str, incident_id: str) -> None:
        if offer_id not in self.seen_offers and not self.stop.is_set():
            self.seen_offers.add(offer_id)
            self.tasks.spawn(self.consider(offer_id, incident_id))

    async def receipt(self, offer_id: str) -> None:
        roll = self.rng.random()
        if roll < 0.55 and self.chain is not None and await self.chain.send_receipt(offer_id):
            self.api.rec.socket_receipts += 1
            if roll > 0.45:  # and over HTTP as well: the phone is not sure it went
                await self.call("receipt_http", "POST", f"/v1/offers/{offer_id}/received")
        elif roll < 0.9:
            await self.call("receipt_http", "POST", f"/v1/offers/{offer_id}/received")
        # else: no receipt; the worker resends the offer by SMS

    async def consider(self, offer_id: str, incident_id: str) -> None:
        await self.receipt(offer_id)
        await asyncio.sleep(self.rng.uniform(0.2, 4.0))
        if self.stop.is_set() or self.ignores(incident_id):
            return
        roll = self.rng.random()
        if roll < 0.35:
            taps = 2 if self.rng.random() < 0.15 else 1
            await asyncio.gather(*(self.accept(incident_id) for _ in range(taps)))
        elif roll < 0.6:
            await self.decline(incident_id)
        # else: ignored; the offer expires

    async def accept(self, incident_id: str) -> None:
        response = await self.call("accept", "POST", f"/v1/incidents/{incident_id}/accept")
        won = response is not None and response.status_code == 200
        if won and incident_id not in self.assigned:
            self.assigned.add(incident_id)
            self.tasks.spawn(self.work(incident_id))

    async def decline(self, incident_id: str) -> None:
        await self.call("decline", "POST", f"/v1/incidents/{incident_id}/decline")

    async def report_position(self) -> None:
        lat, lon = self.person.spot
        await self.call(
            "responder_location",
            "POST",
            "/v1/responders/me/location",
            json={
                "lat": round(lat + self.rng.uniform(-1e-3, 1e-3), 6),
                "lon": round(lon + self.rng.uniform(-1e-3, 1e-3), 6),
                "accuracy_m": round(self.rng.uniform(4, 30), 1),
            },
        )

    async def locate_on(self, incident_id: str) -> None:
        lat, lon = self.person.spot
        await self.call(
            "assigned_location",
            "POST",
            f"/v1/incidents/{incident_id}/locations",
            json={"lat": lat, "lon": lon, "accuracy_m": 12.0},
        )

    async def work(self, incident_id: str) -> None:
        """Ride there (positions on the way), arrive, and (half the time) resolve."""
        arrive_at = time.monotonic() + self.rng.uniform(2, 6)
        resolve_at = arrive_at + self.rng.uniform(2, 8)
        resolves = self.rng.random() < 0.5
        arrived = False
        while incident_id in self.assigned and not self.stop.is_set():
            await self.report_position()
            if self.rng.random() < 0.3:
                await self.locate_on(incident_id)
            now = time.monotonic()
            if not arrived and now >= arrive_at:
                arrived = True
                await self.call("arrive", "POST", f"/v1/incidents/{incident_id}/arrive")
            elif arrived and resolves and now >= resolve_at:
                await self.call(
                    "resolve",
                    "POST",
                    f"/v1/incidents/{incident_id}/resolve",
                    json={"outcome": self.rng.choice(["treated_on_scene", "transported"])},
                )
                break
            await asyncio.sleep(self.rng.uniform(1.5, 3.0))

    async def poll_offers(self) -> None:
        """The app's polling fallback: offers the socket may have missed."""
        while not self.stop.is_set():
            await asyncio.sleep(self.rng.uniform(4, 8))
            response = await self.call("offers_poll", "GET", "/v1/responders/me/offers")
            if response is not None and response.status_code == 200:
                for item in response.json():
                    self.offered(str(item["offer"]["id"]), str(item["incident_id"]))


OfficerAction = Callable[[IncidentView], Awaitable[None]]


class Officers:
    """The health officers: manual dispatch, cancel, hand-off to 1669, resolve; and a
    responder's account disabled in the middle of it all."""

    def __init__(
        self,
        people: list[Person],
        api: Api,
        rng: random.Random,
        responders: list[ResponderActor],
    ) -> None:
        self.people = people
        self.api = api
        self.rng = rng
        self.responders = responders
        self.disabled: ResponderActor | None = None
        # In turn, so that even a short run does each of them.
        self._actions: list[OfficerAction] = [
            self.assign,
            self.escalate,
            self.cancel,
            self.assign,
            self.escalate,
            self.resolve,
        ]
        self._turn = 0

    def _someone(self) -> Person:
        return self.rng.choice(self.people)

    async def act(self, view: IncidentView) -> None:
        action = self._actions[self._turn % len(self._actions)]
        self._turn += 1
        await action(view)

    async def cancel(self, view: IncidentView) -> None:
        await self.api.call(
            "officer_cancel",
            "POST",
            f"/v1/incidents/{view.id}/cancel",
            self._someone(),
            json={"reason": "the family called: all is well"},
        )

    async def assign(self, view: IncidentView) -> None:
        responder = self.rng.choice(self.responders)
        await self.api.call(
            "officer_assign",
            "POST",
            f"/v1/incidents/{view.id}/assign",
            self._someone(),
            json={"responder_id": responder.id},
        )

    async def escalate(self, view: IncidentView) -> None:
        await self.api.call(
            "officer_escalate", "POST", f"/v1/incidents/{view.id}/escalate", self._someone()
        )

    async def resolve(self, view: IncidentView) -> None:
        await self.api.call(
            "officer_resolve",
            "POST",
            f"/v1/incidents/{view.id}/resolve",
            self._someone(),
            json={"outcome": "false_alarm", "note": "closed from the map"},
        )

    async def disable(self, board: Board) -> None:
        """Disable the account of a responder who is in the middle of something."""
        busy = {o[0] for v in board.active() for o in v.offers.values()}
        busy |= {v.assigned for v in board.active() if v.assigned}
        pool = [r for r in self.responders if r.id in busy] or self.responders
        victim = self.rng.choice(pool)
        victim.disabled = True  # from now on its requests may be refused
        self.disabled = victim
        await self.api.call("disable", "POST", f"/v1/users/{victim.id}/disable", self._someone())
