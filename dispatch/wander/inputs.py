"""What officers send to set a safe zone, and what the elder's phone sends as fixes."""

from datetime import datetime, time
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from core.inputs import InputModel
from dispatch.inputs import ShortText, _not_in_future

Lat = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Lon = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
MAX_FIXES = 1000


class FixIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    lat: Lat
    lon: Lon
    accuracy_m: Annotated[float, Field(gt=0, le=100_000, allow_inf_nan=False)]
    captured_at: Annotated[datetime, AfterValidator(_not_in_future)]


class FixesIn(BaseModel):
    """One fix, or a batch (a phone that was offline sends its backlog at once). Like a
    fix, a batch ignores keys it does not know: phones send more than we read."""

    fixes: Annotated[list[FixIn], Field(min_length=1, max_length=MAX_FIXES)]


class CircleIn(InputModel):
    """A circle of ``radius_m``; without a centre, around the elder's home."""

    lat: Lat | None = None
    lon: Lon | None = None
    radius_m: Annotated[float, Field(ge=20, le=20_000, allow_inf_nan=False)]

    @model_validator(mode="after")
    def _both_or_neither(self) -> "CircleIn":
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither (the elder's home)")
        return self


class ActiveHours(InputModel):
    """Local time of the organization; ``from`` after ``to`` spans midnight (20:00-06:00)."""

    model_config = ConfigDict(populate_by_name=True)

    from_: time = Field(alias="from")
    to: time

    @model_validator(mode="after")
    def _not_empty(self) -> "ActiveHours":
        if self.from_ == self.to:
            raise ValueError("from and to are equal: leave active_hours out for always")
        return self


class ThresholdsIn(BaseModel):
    """Overrides of dispatch.wander.machine.Thresholds for one zone (see docs/safe-zones.md)."""

    model_config = ConfigDict(extra="forbid")

    max_accuracy_m: Annotated[float, Field(ge=10, le=1000)] | None = None
    outside_share: Annotated[float, Field(ge=0.1, le=0.95)] | None = None
    inside_share: Annotated[float, Field(ge=0.1, le=0.95)] | None = None
    leave_margin_m: Annotated[float, Field(ge=0, le=1000)] | None = None
    enter_margin_m: Annotated[float, Field(ge=0, le=1000)] | None = None
    min_outside_fixes: Annotated[int, Field(ge=1, le=100)] | None = None
    dwell_s: Annotated[float, Field(ge=30, le=7200)] | None = None
    stale_after_s: Annotated[float, Field(ge=60, le=86_400)] | None = None

    def overrides(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class SafeZoneIn(InputModel):
    name: ShortText
    kind: Literal["polygon", "circle"]
    # A GeoJSON Polygon or MultiPolygon in WGS 84 (kind "polygon"), checked as care zones are.
    area: dict[str, Any] | None = None
    circle: CircleIn | None = None
    active_hours: ActiveHours | None = None
    thresholds: ThresholdsIn = Field(default_factory=ThresholdsIn)

    @model_validator(mode="after")
    def _shape_matches_kind(self) -> "SafeZoneIn":
        if self.kind == "polygon" and (self.area is None or self.circle is not None):
            raise ValueError("a polygon zone needs 'area' (GeoJSON) and no 'circle'")
        if self.kind == "circle" and (self.circle is None or self.area is not None):
            raise ValueError("a circle zone needs 'circle' and no 'area'")
        return self
