"""A demo simulator that uses only the public HTTP API, as the phone apps would.

Elders press SOS now and then (near home, with a GPS fix of varying quality).
Responders keep their position fresh, poll their offers, accept or decline
after a moment's thought, ride to the elder at motorbike speed, report
arrival and resolve. ``speed`` compresses time so tests can watch a whole
incident go by in seconds.

Each simulated phone registers for push as the app does (with no FCM configured the
server's log channel takes the message, as it would any other), and a responder's
phone confirms each offer it sees (``POST /v1/offers/{id}/received``), so the timeline
reads as a real deployment's would.

The console gets one line per incident step (SOS pressed, offer received, accepted or
declined, arrived, resolved), each naming its incident, and not one per HTTP request:
httpx logs every request at INFO, so ``simulate`` raises its logger to WARNING.
"""

import asyncio
import logging
import math
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from api.staff_auth import StaffAuth
from core import log_context

log = logging.getLogger("phikat.simulator")

MOTORBIKE_M_PER_S = 30 / 3.6  # ~30 km/h on village roads
REPORT_EVERY_S = 2.5
METRES_PER_DEG_LAT = 110_600.0
OUTCOMES = ["treated_on_scene", "treated_on_scene", "transported", "false_alarm"]
# While the server is away, one warning per this many seconds, not one per agent per retry.
WARN_EVERY_S = 30.0


@dataclass
class SimulationConfig:
    base_url: str
    officer_email: str
    password: str
    org_code: str = "thakhantho"
    sos_every_s: float = 45.0
    speed: float = 1.0
    accept_chance: float = 0.6
    decline_chance: float = 0.25
    seed: int | None = None


@dataclass
class Position:
    lat: float
    lon: float

    def distance_to(self, other: "Position") -> float:
        dy = (other.lat - self.lat) * METRES_PER_DEG_LAT
        dx = (other.lon - self.lon) * METRES_PER_DEG_LAT * math.cos(math.radians(self.lat))
        return math.hypot(dx, dy)

    def towards(self, other: "Position", metres: float) -> "Position":
        total = self.distance_to(other)
        if total <= metres:
            return Position(other.lat, other.lon)
        f = metres / total
        return Position(
            self.lat + (other.lat - self.lat) * f, self.lon + (other.lon - self.lon) * f
        )


@dataclass
class ElderPhone:
    token: str
    home: Position


@dataclass
class ResponderAgent:
    email: str
    auth: StaffAuth
    home: Position
    position: Position
    seen_offers: set[str] = field(default_factory=set)
    inbox: "asyncio.Queue[dict[str, Any]]" = field(default_factory=asyncio.Queue)
    busy: bool = False
    reported_at: float = -math.inf

    @property
    def name(self) -> str:
        """The login without its domain: cg1, osm2, rescue1."""
        return self.email.split("@", 1)[0]


class Simulator:
    def __init__(self, config: SimulationConfig, client: httpx.AsyncClient) -> None:
        self.config = config
        self.client = client
        self.rng = random.Random(config.seed)
        self.stats: dict[str, int] = {"sos": 0, "accepted": 0, "declined": 0, "resolved": 0}
        self._warned_at = -math.inf

    def _sleep(self, seconds: float) -> Any:
        return asyncio.sleep(seconds / self.config.speed)

    async def _login(self, email: str) -> StaffAuth:
        return await StaffAuth.login(self.client, email, self.config.password)

    async def _register_push(self, fcm_token: str, **request: Any) -> None:
        """Register the phone for push as the app does. The token is fixed per person, so
        running the demo again moves the same registration instead of adding one."""
        registered = await self.client.post(
            "/v1/devices", json={"fcm_token": fcm_token, "platform": "android"}, **request
        )
        registered.raise_for_status()

    async def _setup(self) -> tuple[list[ElderPhone], list[ResponderAgent]]:
        officer = await self._login(self.config.officer_email)
        org_id = await self._org_id(officer)
        # The officer's phone too: escalations are pushed to the officers.
        await self._register_push(f"simulator-{self.config.officer_email}", auth=officer)
        elders = (await self.client.get(f"/v1/orgs/{org_id}/elders", auth=officer)).json()
        phones = []
        for elder in elders:
            issued = await self.client.post(
                f"/v1/elders/{elder['id']}/device-tokens",
                json={"label": "simulator"},
                auth=officer,
            )
            issued.raise_for_status()
            token = issued.json()["device_token"]
            await self._register_push(
                f"simulator-elder-{elder['id']}", headers={"Authorization": f"Bearer {token}"}
            )
            phones.append(ElderPhone(token, Position(elder["home"]["lat"], elder["home"]["lon"])))
        agents = []
        responders = (await self.client.get(f"/v1/orgs/{org_id}/responders", auth=officer)).json()
        for r in responders:
            auth = await self._login(r["email"])
            await self._register_push(f"simulator-{r['email']}", auth=auth)
            await self.client.put("/v1/responders/me/status", json={"on_duty": True}, auth=auth)
            loc = r["last_location"] or {"lat": phones[0].home.lat, "lon": phones[0].home.lon}
            home = Position(loc["lat"], loc["lon"])
            agents.append(ResponderAgent(r["email"], auth, home, home))
        return phones, agents

    async def _org_id(self, officer: StaffAuth) -> str:
        me = await self.client.get("/v1/me", auth=officer)
        me.raise_for_status()
        return str(me.json()["organization_id"])

    async def run(
        self, *, duration_s: float | None = None, on_ready: Callable[[], None] | None = None
    ) -> dict[str, int]:
        """Simulate until cancelled (or for ``duration_s``); ``on_ready`` is called once
        every phone is registered and the people start acting."""
        phones, agents = await self._setup()
        log.info(
            "simulating %d elders and %d responders; their phones and the officer's "
            "are registered for push",
            len(phones),
            len(agents),
        )
        if on_ready is not None:
            on_ready()
        tasks = [asyncio.create_task(self._keep_going(self._elders, phones))]
        for agent in agents:
            tasks.append(asyncio.create_task(self._keep_going(self._phone, agent)))
            tasks.append(asyncio.create_task(self._keep_going(self._responder, agent)))
        try:
            if duration_s is None:
                await asyncio.gather(*tasks)
            else:
                await asyncio.sleep(duration_s)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return self.stats

    async def _keep_going(self, loop: Any, *args: Any) -> None:
        """Run an agent's loop; a dropped connection or a restarting server is no reason
        for the simulated people to stop (nor for a warning per person per second)."""
        while True:
            try:
                await loop(*args)
            except httpx.HTTPError as exc:
                if time.monotonic() - self._warned_at >= WARN_EVERY_S:
                    self._warned_at = time.monotonic()
                    log.warning("simulator request failed (%s); retrying", exc)
                await asyncio.sleep(1)

    async def _elders(self, phones: list[ElderPhone]) -> None:
        while True:
            phone = self.rng.choice(phones)
            jitter = self.rng.uniform(-30, 30) / METRES_PER_DEG_LAT
            body: dict[str, Any] = {
                "trigger": self.rng.choice(["button", "button", "fall"]),
                "battery_pct": self.rng.randint(5, 100),
            }
            if self.rng.random() < 0.8:  # indoors, some phones have no fix at all
                body.update(
                    lat=phone.home.lat + jitter,
                    lon=phone.home.lon + jitter,
                    accuracy_m=round(self.rng.uniform(5, 60), 1),
                )
            response = await self.client.post(
                "/v1/sos",
                json=body,
                headers={
                    "Authorization": f"Bearer {phone.token}",
                    "Idempotency-Key": str(uuid.uuid4()),
                },
            )
            if response.status_code in (200, 201):
                answer = response.json()
                self.stats["sos"] += response.status_code == 201
                fix = f"GPS ±{body['accuracy_m']:.0f} m" if "lat" in body else "no GPS fix"
                step(
                    answer["incident_id"],
                    "SOS (%s, %s) in %s%s",
                    body["trigger"],
                    fix,
                    (answer["zone"] or {}).get("name", "no care zone"),
                    "" if response.status_code == 201 else ": pressed again, same incident",
                )
            await self._sleep(self.rng.expovariate(1 / self.config.sos_every_s))

    async def _report_position(self, agent: ResponderAgent) -> None:
        # A polite app: however fast the simulation runs, at most one fix every
        # REPORT_EVERY_S of real time (the server limits location updates per minute).
        now = time.monotonic()
        if now - agent.reported_at < REPORT_EVERY_S:
            return
        agent.reported_at = now
        await self.client.post(
            "/v1/responders/me/location",
            json={"lat": agent.position.lat, "lon": agent.position.lon, "accuracy_m": 8},
            auth=agent.auth,
        )

    async def _phone(self, agent: ResponderAgent) -> None:
        """The responder's phone: keeps the position fresh, and confirms every offer it
        sees, as the app does when a push arrives, whatever its owner is doing."""
        ticks = 0
        while True:
            if ticks % 15 == 0:
                await self._report_position(agent)
            ticks += 1
            offers = await self.client.get("/v1/responders/me/offers", auth=agent.auth)
            for offer in offers.json() if offers.status_code == 200 else []:
                offer_id = offer["offer"]["id"]
                if offer_id in agent.seen_offers:
                    continue
                agent.seen_offers.add(offer_id)
                await self.client.post(f"/v1/offers/{offer_id}/received", auth=agent.auth)
                distance = offer["offer"]["distance_m"]
                step(
                    offer["incident_id"],
                    "offer received by %s (wave %d%s)",
                    agent.name,
                    offer["offer"]["wave"],
                    f", {distance / 1000:.1f} km away" if distance is not None else "",
                )
                if agent.busy:
                    await self._decline(agent, offer["incident_id"], "busy with another incident")
                else:
                    agent.busy = True  # until _responder is done with it
                    agent.inbox.put_nowait(offer)
            await self._sleep(2)

    async def _responder(self, agent: ResponderAgent) -> None:
        while True:
            offer = await agent.inbox.get()
            try:
                await self._consider(agent, offer)
            finally:
                agent.busy = False

    async def _decline(self, agent: ResponderAgent, incident_id: str, why: str) -> None:
        response = await self.client.post(f"/v1/incidents/{incident_id}/decline", auth=agent.auth)
        if response.status_code == 204:
            self.stats["declined"] += 1
            step(incident_id, "%s declines (%s)", agent.name, why)

    async def _consider(self, agent: ResponderAgent, offer: dict[str, Any]) -> None:
        await self._sleep(self.rng.uniform(3, 15))  # reading the offer, putting on a helmet
        incident_id = offer["incident_id"]
        roll = self.rng.random()
        if roll < self.config.accept_chance:
            response = await self.client.post(
                f"/v1/incidents/{incident_id}/accept", auth=agent.auth
            )
            if response.status_code == 200:
                self.stats["accepted"] += 1
                step(incident_id, "accepted by %s", agent.name)
                target = Position(offer["location"]["lat"], offer["location"]["lon"])
                await self._ride_and_help(agent, incident_id, target)
            else:
                step(
                    incident_id,
                    "%s tried to accept: too late (%d)",
                    agent.name,
                    response.status_code,
                )
        elif roll < self.config.accept_chance + self.config.decline_chance:
            await self._decline(agent, incident_id, "not available")
        else:
            step(incident_id, "%s leaves the offer unanswered", agent.name)

    async def _ride_and_help(
        self, agent: ResponderAgent, incident_id: str, target: Position
    ) -> None:
        started, distance = time.monotonic(), agent.position.distance_to(target)
        while agent.position.distance_to(target) > 15:
            agent.position = agent.position.towards(target, MOTORBIKE_M_PER_S * 2)
            await self._report_position(agent)
            await self._sleep(2)
        await self.client.post(f"/v1/incidents/{incident_id}/arrive", auth=agent.auth)
        step(
            incident_id,
            "%s arrived (%.1f km in %.0f simulated minutes)",
            agent.name,
            distance / 1000,
            (time.monotonic() - started) * self.config.speed / 60,
        )
        await self._sleep(self.rng.uniform(20, 60))
        outcome = self.rng.choice(OUTCOMES)
        response = await self.client.post(
            f"/v1/incidents/{incident_id}/resolve",
            auth=agent.auth,
            json={"outcome": outcome, "note": "simulated"},
        )
        if response.status_code == 200:
            self.stats["resolved"] += 1
            step(incident_id, "resolved by %s: %s", agent.name, outcome)
        agent.position = agent.home


def step(incident_id: str, message: str, *args: object) -> None:
    """One console line for one step of an incident, carrying its id (text or JSON)."""
    with log_context.about(uuid.UUID(incident_id)):
        log.info(message, *args)


def quiet_http_client_logs() -> None:
    """httpx logs every request at INFO: hundreds of lines a minute in the demo."""
    logging.getLogger("httpx").setLevel(logging.WARNING)


async def simulate(
    config: SimulationConfig,
    *,
    duration_s: float | None = None,
    on_ready: Callable[[], None] | None = None,
) -> dict[str, int]:
    quiet_http_client_logs()
    async with httpx.AsyncClient(base_url=config.base_url, timeout=30) as client:
        return await Simulator(config, client).run(duration_s=duration_s, on_ready=on_ready)
