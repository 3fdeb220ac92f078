"""The incidents as the officers' map shows them, folded from an officer's live events:
what the simulated people act on (a moment late, like real people)."""

import time
from dataclasses import dataclass, field

from tests.stress.live import Frame

ACTIVE = ("dispatching", "accepted", "on_scene")


@dataclass
class IncidentView:
    """An incident as the officers' map shows it (from an officer's live socket)."""

    id: str
    elder_id: str | None
    opened_at: float
    state: str = "dispatching"
    level: int = 0
    assigned: str | None = None
    offers: dict[str, list[str]] = field(default_factory=dict)  # id -> [responder, state]


class Board:
    """What the officers know, folded from one officer's live events."""

    def __init__(self) -> None:
        self.incidents: dict[str, IncidentView] = {}

    def apply(self, frame: Frame) -> None:
        name, data, incident_id = frame["event"], frame["data"], frame["incident_id"]
        if incident_id is None:
            return
        if name == "incident.opened":
            self.incidents[incident_id] = IncidentView(
                incident_id, data.get("elder_id"), time.monotonic()
            )
            return
        view = self.incidents.get(incident_id)
        if view is None:
            return  # opened before this socket was watching
        if name == "offer.sent":
            view.offers[data["offer_id"]] = [data["responder_id"], "pending"]
        elif name in ("offer.declined", "offer.expired", "offer.withdrawn"):
            if data["offer_id"] in view.offers:
                view.offers[data["offer_id"]][1] = name.removeprefix("offer.")
        elif name == "incident.accepted":
            view.state, view.assigned = "accepted", data["responder_id"]
            if data.get("offer_id") in view.offers:
                view.offers[data["offer_id"]][1] = "accepted"
        elif name == "incident.on_scene":
            view.state = "on_scene"
        elif name == "incident.escalated":
            view.level = data["level"]
        elif name in ("incident.resolved", "incident.cancelled"):
            view.state = name.removeprefix("incident.")

    def active(self) -> list[IncidentView]:
        return [v for v in self.incidents.values() if v.state in ACTIVE]
