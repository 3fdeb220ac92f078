"""Answers about safe zones and positions."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ZoneStateOut(BaseModel):
    """The zone's wander state: inside, leaving, outside (alerted), unknown (stale or poor
    fixes, or no fix for longer than ``stale_after_s``: shown, never alerted)."""

    state: str
    last_fix_at: datetime | None
    left_at: datetime | None
    outside_fixes: int
    incident_id: uuid.UUID | None


class ActiveHoursOut(BaseModel):
    """Local times of the organization, as strings: JSON Schema's "time" format would
    demand a zone offset, which a local time of day does not have."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", examples=["20:00:00"])
    to: str = Field(examples=["06:00:00"])


class SafeZoneOut(BaseModel):
    id: uuid.UUID
    elder_id: uuid.UUID
    name: str
    kind: str
    area: dict[str, Any] = Field(description="GeoJSON MultiPolygon (a circle as its polygon)")
    circle: dict[str, float] | None
    active_hours: ActiveHoursOut | None
    thresholds: dict[str, float]
    status: ZoneStateOut


class PositionsOut(BaseModel):
    accepted: int
    ignored_late: int = Field(description="fixes not newer than ones already taken")
    zones: dict[uuid.UUID, ZoneStateOut]
    incident_id: uuid.UUID | None = Field(
        description="the incident a wander alert opened or joined"
    )


class ElderZoneStateOut(BaseModel):
    """A row of the officers' map: one elder's safe zone and its wander state."""

    elder_id: uuid.UUID
    elder_name: str
    zone_id: uuid.UUID
    zone_name: str
    status: ZoneStateOut
