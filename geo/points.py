"""Building PostGIS point expressions from coordinates."""

from typing import Any

from sqlalchemy import func
from sqlalchemy.sql.elements import ColumnElement

WGS84 = 4326


def point(lon: float, lat: float) -> ColumnElement[Any]:
    return func.ST_SetSRID(func.ST_MakePoint(lon, lat), WGS84)


def point_wkt(lon: float, lat: float) -> str:
    return f"SRID={WGS84};POINT({lon} {lat})"
