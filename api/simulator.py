"""A demo simulator that uses only the public HTTP API, as the phone apps would.

Elders press SOS now and then (near home, with a GPS fix of varying quality).
Responders keep their position fresh, poll their offers, accept or decline
after a moment's thought, ride to the elder at motorbike speed, report
arrival and resolve. ``speed`` compresses time so tests can watch a whole
incident go by in seconds.
"""

import asyncio
import logging
import math
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from api.staff_auth import StaffAuth

log = logging.getLogger("phikat.simulator")

MOTORBIKE_M_PER_S = 30 / 3.6  # ~30 km/h on village roads
REPORT_EVERY_S = 2.5
METRES_PER_DEG_LAT = 110_600.0
OUTCOMES = ["treated_on_scene", "treated_on_scene", "transported", "false_alarm"]


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
class ResponderAgent:
    email: str
    auth: StaffAuth
    home: Position
    position: Position
    seen_offers: set[str] = field(default_factory=set)
    busy: bool = False
    reported_at: float = -math.inf


class Simulator:
    def __init__(self, config: SimulationConfig, client: httpx.AsyncClient) -> None:
        self.config = config
        self.client = client
        self.rng = random.Random(config.seed)
        self.stats: dict[str, int] = {"sos": 0, "accepted": 0, "declined": 0, "resolved": 0}

    def _sleep(self, seconds: float) -> Any:
        return asyncio.sleep(seconds / self.config.speed)

    async def _login(self, email: str) -> StaffAuth:
        return await StaffAuth.login(self.client, email, self.config.password)

    async def _setup(self) -> tuple[list[tuple[str, Position]], list[ResponderAgent]]:
        officer = await self._login(self.config.officer_email)
        org_id = await self._org_id(officer)
        elders = (await self.client.get(f"/v1/orgs/{org_id}/elders", auth=officer)).json()
        devices = []
        for elder in elders:
            issued = await self.client.post(
                f"/v1/elders/{elder['id']}/device-tokens",
                json={"label": "simulator"},
                auth=officer,
            )
            issued.raise_for_status()
            home = Position(elder["home"]["lat"], elder["home"]["lon"])
            devices.append((issued.json()["device_token"], home))
        agents = []
        responders = (await self.client.get(f"/v1/orgs/{org_id}/responders", auth=officer)).json()
        for r in responders:
            auth = await self._login(r["email"])
            await self.client.put("/v1/responders/me/status", json={"on_duty": True}, auth=auth)
            loc = r["last_location"] or {"lat": devices[0][1].lat, "lon": devices[0][1].lon}
            home = Position(loc["lat"], loc["lon"])
            agents.append(ResponderAgent(r["email"], auth, home, home))
        return devices, agents

    async def _org_id(self, officer: StaffAuth) -> str:
        me = await self.client.get("/v1/me", auth=officer)
        me.raise_for_status()
        return str(me.json()["organization_id"])

    async def run(self, *, duration_s: float | None = None) -> dict[str, int]:
        devices, agents = await self._setup()
        log.info("simulating %d elders and %d responders", len(devices), len(agents))
        tasks = [asyncio.create_task(self._keep_going(self._elders, devices))]
        tasks += [asyncio.create_task(self._keep_going(self._responder, agent)) for agent in agents]
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
        for the simulated people to stop."""
        while True:
            try:
                await loop(*args)
            except httpx.HTTPError as exc:
                log.warning("simulator request failed (%s); retrying", exc)
                await asyncio.sleep(1)

    async def _elders(self, devices: list[tuple[str, Position]]) -> None:
        while True:
            token, home = self.rng.choice(devices)
            jitter = self.rng.uniform(-30, 30) / METRES_PER_DEG_LAT
            body: dict[str, Any] = {
                "trigger": self.rng.choice(["button", "button", "fall"]),
                "battery_pct": self.rng.randint(5, 100),
            }
            if self.rng.random() < 0.8:  # indoors, some phones have no fix at all
                body.update(
                    lat=home.lat + jitter,
                    lon=home.lon + jitter,
                    accuracy_m=round(self.rng.uniform(5, 60), 1),
                )
            response = await self.client.post(
                "/v1/sos",
                json=body,
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())},
            )
            if response.status_code == 201:
                self.stats["sos"] += 1
                log.info(
                    "SOS %s (%s)",
                    response.json()["incident_id"][:8],
                    (response.json()["zone"] or {}).get("name"),
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

    async def _responder(self, agent: ResponderAgent) -> None:
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
                await self._consider(agent, offer)
            await self._sleep(2)

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
                target = Position(offer["location"]["lat"], offer["location"]["lon"])
                await self._ride_and_help(agent, incident_id, target)
        elif roll < self.config.accept_chance + self.config.decline_chance:
            await self.client.post(f"/v1/incidents/{incident_id}/decline", auth=agent.auth)
            self.stats["declined"] += 1
        # otherwise the offer is ignored and expires

    async def _ride_and_help(
        self, agent: ResponderAgent, incident_id: str, target: Position
    ) -> None:
        while agent.position.distance_to(target) > 15:
            agent.position = agent.position.towards(target, MOTORBIKE_M_PER_S * 2)
            await self._report_position(agent)
            await self._sleep(2)
        await self.client.post(f"/v1/incidents/{incident_id}/arrive", auth=agent.auth)
        await self._sleep(self.rng.uniform(20, 60))
        response = await self.client.post(
            f"/v1/incidents/{incident_id}/resolve",
            auth=agent.auth,
            json={"outcome": self.rng.choice(OUTCOMES), "note": "simulated"},
        )
        if response.status_code == 200:
            self.stats["resolved"] += 1
            log.info("resolved %s", incident_id[:8])
        agent.position = agent.home


async def simulate(config: SimulationConfig, *, duration_s: float | None = None) -> dict[str, int]:
    async with httpx.AsyncClient(base_url=config.base_url, timeout=30) as client:
        return await Simulator(config, client).run(duration_s=duration_s)
