"""One run's people, sockets and load: rounds in which several people act on the same
incident at once, and the officers' clean-up when the load stops."""

import asyncio
import random
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.stress.actors import ElderActor, Officers, ResponderActor, Tasks
from tests.stress.answers import Api
from tests.stress.board import ACTIVE, Board, IncidentView
from tests.stress.live import LiveChain
from tests.stress.processes import Cluster
from tests.stress.scene import Scene


@dataclass
class StressConfig:
    rounds: int = 300
    max_load_s: float = 60.0  # the load stops after this many seconds, rounds left or not
    round_interval_s: float = 0.15  # a round starts at most this often
    rounds_in_flight: int = 8  # rounds whose requests may be under way at once
    elders: int = 16
    responders: int = 20
    seed: int | None = None
    log_dir: Path = Path("stress-logs")
    small_queue_batches: int = 2
    db_pool: int = 10  # and as many again in overflow, per process (the cluster is shared)


class Run:
    """One run's people, sockets and load."""

    def __init__(
        self, cluster: Cluster, scene: Scene, api: Api, config: StressConfig, rng: random.Random
    ) -> None:
        self.cluster = cluster
        self.scene = scene
        self.api = api
        self.config = config
        self.rng = rng
        self.stop = asyncio.Event()
        self.board = Board()
        self.elders = [ElderActor(p, api, rng) for p in scene.elders]
        self.elder_by_id = {e.person.id: e for e in self.elders}
        # Nobody answers this elder's incidents: their offers expire, the next wave is
        # offered, the officers are called and the incident goes to 1669, every time.
        self.forsaken = {scene.elders[0].id}
        self.responders = [
            ResponderActor(p, api, rng, self.stop, ignores=self._forsaken_incident)
            for p in scene.responders
        ]
        self.responder_by_id = {r.id: r for r in self.responders}
        self.officers = Officers(scene.officers, api, rng, self.responders)
        self.chains: list[LiveChain] = []
        self.background = Tasks()
        self.rounds = 0
        self.zero = asyncio.get_running_loop().time()  # the run's clock starts

    def _forsaken_incident(self, incident_id: str) -> bool:
        view = self.board.incidents.get(incident_id)
        return view is not None and view.elder_id in self.forsaken

    # --- sockets --------------------------------------------------------------------

    def open_sockets(self) -> None:
        """Officers' maps on both servers (the first one feeds the board), every
        responder's and elder's phone; a few of them slow, on the small-queue server."""
        urls, rng = self.cluster.ws, self.rng
        # Officers' maps see every event: the sharpest detectors of a gap. Most of them
        # are on the small-queue server, where overflows (1011) happen.
        for n, officer in enumerate(self.scene.officers * 3):
            chain = LiveChain(
                f"officer-{n}",
                "officer",
                officer.id,
                officer.token,
                urls,
                [0] if n == 0 else [0, 1] if n == 1 else [1],
                rng=rng,
                slow=n in (3, 5),
                on_event=self.board.apply if n == 0 else None,
            )
            self.chains.append(chain)
        for n, responder in enumerate(self.responders):
            chain = LiveChain(
                f"responder-{n}",
                "responder",
                responder.id,
                responder.person.token,
                urls,
                [1] if n % 2 else [0, 1],
                rng=rng,
                slow=n % 7 == 1,
                on_event=responder.on_event,
            )
            responder.chain = chain
            self.chains.append(chain)
        for n, elder in enumerate(self.elders):
            chain = LiveChain(
                f"elder-{n}",
                "elder",
                elder.person.id,
                elder.person.token,
                urls,
                [1] if n % 2 else [0, 1],
                rng=rng,
                slow=n % 5 == 1,
                on_event=elder.on_event,
            )
            self.chains.append(chain)
        for chain in self.chains:
            chain.start_running()

    # --- the load -----------------------------------------------------------------------

    async def load(self) -> None:
        for responder in self.responders:
            self.background.spawn(responder.poll_offers())
        started = time.monotonic()
        rounds, in_flight = Tasks(), asyncio.Semaphore(self.config.rounds_in_flight)
        for n in range(self.config.rounds):
            elapsed = time.monotonic() - started
            if elapsed > self.config.max_load_s:
                break
            disable = self.officers.disabled is None and (
                n >= self.config.rounds // 3 or elapsed > self.config.max_load_s / 3
            )
            # Rounds overlap (a slow answer does not hold the next round back), but only
            # so many at once: the load follows what the servers can take.
            await in_flight.acquire()
            rounds.spawn(self._round(disable, in_flight))
            self.rounds = n + 1
            await asyncio.sleep(self.config.round_interval_s)
        await rounds.join(timeout=120)
        self.stop.set()
        await self.background.join(timeout=60)
        for responder in self.responders:
            await responder.tasks.join(timeout=60)

    async def _round(self, disable: bool, in_flight: asyncio.Semaphore) -> None:
        try:
            await asyncio.gather(*self._acts(disable))
        finally:
            in_flight.release()

    def _acts(self, disable: bool) -> list[Coroutine[Any, Any, None]]:
        rng = self.rng
        acts: list[Coroutine[Any, Any, None]] = []
        acts += self._elder_acts(rng.choice(self.elders))
        active = self.board.active()
        if active:
            acts += self._burst(rng.choice(active))
        acts.append(rng.choice(self.responders).report_position())
        stale = [v for v in active if self._stale(v)]
        if stale and rng.random() < 0.5:
            acts.append(self._close(rng.choice(stale)))
        if disable:
            acts.append(self.officers.disable(self.board))
        return acts

    def _elder_acts(self, elder: ElderActor) -> list[Coroutine[Any, Any, None]]:
        rng, acts = self.rng, []
        if elder.active is None or rng.random() < 0.15:
            acts.append(elder.press(rng.choices([1, 2, 3], weights=[6, 3, 1])[0]))
            if rng.random() < 0.2:
                acts.append(elder.press())  # a second press at once, with its own key
        if rng.random() < 0.25:
            acts.append(elder.retry())
        if elder.active is not None and rng.random() < 0.6:
            acts.append(elder.locate())
        if elder.active is not None and rng.random() < 0.03:
            acts.append(elder.cancel())
        return acts

    def _burst(self, view: IncidentView) -> list[Coroutine[Any, Any, None]]:
        """Everyone involved in one incident acts at the same moment."""
        rng, acts = self.rng, []
        elder = self.elder_by_id.get(view.elder_id or "")
        if elder is not None:
            acts.append(elder.locate())
            if rng.random() < 0.3:
                acts.append(elder.press())  # joins the active incident
            if rng.random() < 0.2:
                acts.append(elder.retry())
        if view.elder_id in self.forsaken:
            return acts
        for offer_id, (responder_id, state) in list(view.offers.items()):
            responder = self.responder_by_id.get(responder_id)
            if responder is None or state not in ("pending", "expired"):
                continue
            roll = rng.random()
            if roll < 0.3:
                acts.append(responder.accept(view.id))
            elif roll < 0.5:
                acts.append(responder.decline(view.id))
            else:
                acts.append(responder.receipt(offer_id))
        assigned = self.responder_by_id.get(view.assigned or "")
        if assigned is not None:
            acts += [assigned.report_position(), assigned.locate_on(view.id)]
        if rng.random() < 0.3:
            acts.append(self.officers.act(view))
        return acts

    def _stale(self, view: IncidentView) -> bool:
        age = time.monotonic() - view.opened_at
        if view.elder_id in self.forsaken:
            return view.level >= 2  # once handed to 1669
        return age > 25 or (view.level >= 2 and age > 12)

    async def _close(self, view: IncidentView) -> None:
        """The officers tidy up: incidents open too long are resolved or cancelled, so
        the elders can press again."""
        if view.state == "dispatching":
            await self.officers.cancel(view)
        else:
            await self.officers.resolve(view)

    # --- settling -----------------------------------------------------------------------

    async def settle(self, timeout: float = 60) -> None:
        """Close every incident still active, as an officer would at the end of a shift."""
        officer = self.scene.officers[0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            open_ids: set[str] = set()
            for state in ACTIVE:
                response = await self.api.call(
                    "officer_list",
                    "GET",
                    f"/v1/orgs/{self.scene.org_id}/incidents?state={state}&limit=500",
                    officer,
                )
                if response is not None and response.status_code == 200:
                    open_ids |= {str(i["id"]) for i in response.json()}
            if not open_ids:
                return
            await asyncio.gather(
                *(
                    self.api.call(
                        "settle_cancel",
                        "POST",
                        f"/v1/incidents/{i}/cancel",
                        officer,
                        json={"reason": "end of the stress run"},
                    )
                    for i in open_ids
                )
            )
        self.api.rec.failures.append(f"incidents still open {timeout}s after the load stopped")
