"""Ranking candidate responders for an incident. Pure: the database supplies the facts."""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from dispatch.enums import ResponderKind

# Skills that matter first for an elder who fell or collapsed.
EMERGENCY_SKILLS = frozenset({"cpr", "aed", "first_aid", "ambulance", "nursing"})

# Tie-breaker only. Caregivers usually know the elder; the rescue unit is scarce
# and is kept for when closer people cannot come.
KIND_ORDER = {
    ResponderKind.CAREGIVER: 0,
    ResponderKind.VOLUNTEER: 1,
    ResponderKind.CARE_MANAGER: 2,
    ResponderKind.RESCUE: 3,
}


@dataclass(frozen=True)
class Candidate:
    responder_id: uuid.UUID
    kind: ResponderKind
    skills: frozenset[str]
    in_zone_team: bool
    busy: bool
    # Distance to the incident from a fresh position fix, if there is one.
    fix_distance_m: float | None
    # Distance from the incident to the nearest zone this responder serves.
    zone_distance_m: float | None

    @property
    def distance_m(self) -> float | None:
        """Best estimate of how far away the responder is; None when unknown."""
        if self.fix_distance_m is not None:
            return self.fix_distance_m
        return self.zone_distance_m


def eligible(candidate: Candidate, radius_m: float) -> bool:
    """A zone-team member is always eligible; anyone else must be within the radius."""
    if candidate.in_zone_team:
        return True
    distance = candidate.distance_m
    return distance is not None and distance <= radius_m


def rank(
    candidates: Iterable[Candidate], *, radius_m: float, exclude: frozenset[uuid.UUID] = frozenset()
) -> list[Candidate]:
    """Eligible candidates, best first.

    Free before busy (busy: assigned to another active incident); then nearest;
    then more emergency skills; then kind; then id, so the order is total.
    """
    pool = [c for c in candidates if c.responder_id not in exclude and eligible(c, radius_m)]
    return sorted(
        pool,
        key=lambda c: (
            c.busy,
            c.distance_m if c.distance_m is not None else float("inf"),
            -len(c.skills & EMERGENCY_SKILLS),
            KIND_ORDER[c.kind],
            c.responder_id,
        ),
    )
