import uuid

from pydantic import BaseModel


class ZoneRef(BaseModel):
    id: uuid.UUID
    name: str


class ZoneMatch(BaseModel):
    id: uuid.UUID
    name: str
    kind: str
    priority: int
    covers: bool
    distance_m: float
    area_m2: float


class ZoneIds(BaseModel):
    ids: list[uuid.UUID]
    repaired: list[int] = []
