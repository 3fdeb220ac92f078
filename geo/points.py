"""Building PostGIS point expressions from coordinates."""

from typing import Any

from geoalchemy2 import WKBElement
from geoalchemy2.shape import from_shape
from shapely.geometry import Point
from sqlalchemy import func
from sqlalchemy.sql.elements import ColumnElement

WGS84 = 4326


def point(lon: float, lat: float) -> ColumnElement[Any]:
    return func.ST_SetSRID(func.ST_MakePoint(lon, lat), WGS84)


def point_wkt(lon: float, lat: float) -> str:
    return f"SRID={WGS84};POINT({lon} {lat})"


def point_element(lon: float, lat: float) -> WKBElement:
    """A point to store that reads back as it would from the database (``to_shape``
    works on it), so a new row need not be refreshed after its INSERT."""
    return from_shape(Point(lon, lat), srid=WGS84, extended=True)
