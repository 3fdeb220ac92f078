"""An organization's dispatch policy: who is offered an incident, in which waves, how long.

Defaults follow GoodSAM (the 3 nearest within 1 km, a decline passes on at
once) widened for rural Thai villages, where the nearest volunteer may be
several kilometres away.
"""

from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from core.inputs import InputModel


class Wave(InputModel):
    model_config = ConfigDict(frozen=True)

    size: Annotated[int, Field(ge=1, le=50, description="Responders offered at once")]
    radius_m: Annotated[
        float,
        Field(gt=0, le=100_000, description="How far (besides the zone team) to look"),
    ]
    timeout_s: Annotated[int, Field(ge=10, le=3600, description="Time to accept")]


class DispatchPolicy(InputModel):
    model_config = ConfigDict(frozen=True)

    waves: Annotated[list[Wave], Field(min_length=1, max_length=10)] = [
        Wave(size=3, radius_m=1_000, timeout_s=60),
        Wave(size=5, radius_m=3_000, timeout_s=60),
        Wave(size=10, radius_m=10_000, timeout_s=90),
    ]
    officer_timeout_s: Annotated[
        int,
        Field(
            ge=10,
            le=3600,
            description="After escalating to officers, time before the fallback (1669) hand-off",
        ),
    ] = 120
    arrival_deadline_s: Annotated[
        int,
        Field(
            ge=60,
            le=24 * 3600,
            description="Accepted but not on scene after this: the officers are told",
        ),
    ] = 20 * 60
    receipt_timeout_s: Annotated[
        int,
        Field(
            ge=5,
            le=600,
            description="An offer whose push was not confirmed by the "
            "phone within this time is sent again by SMS",
        ),
    ] = 15
    location_fresh_s: Annotated[
        int,
        Field(
            ge=30,
            le=24 * 3600,
            description="A last known position older than this "
            "is not trusted; the responder's zones stand in for it",
        ),
    ] = 15 * 60

    @model_validator(mode="after")
    def _radii_grow(self) -> "DispatchPolicy":
        radii = [w.radius_m for w in self.waves]
        if radii != sorted(radii):
            raise ValueError("each wave's radius must be at least the previous one's")
        return self

    def wave(self, number: int) -> Wave | None:
        """Wave ``number`` (1-based), or None after the last."""
        return self.waves[number - 1] if 1 <= number <= len(self.waves) else None


DEFAULT_POLICY = DispatchPolicy()
