"""Validating and repairing care-zone GeoJSON (RFC 7946). Pure: no database.

Each feature is checked on its own so that a bulk import can name every bad
feature by index and name, and a streamed import never holds the whole file.
"""

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.validation import explain_validity

# Names a GeoJSON 'crs' member may give that still mean WGS84 longitude/latitude.
WGS84_NAMES = frozenset(
    {
        "urn:ogc:def:crs:OGC:1.3:CRS84",
        "urn:ogc:def:crs:OGC::CRS84",
        "OGC:CRS84",
        "CRS84",
        "EPSG:4326",
        "urn:ogc:def:crs:EPSG::4326",
        "urn:ogc:def:crs:EPSG:4326",
    }
)
POLYGONAL_TYPES = ("Polygon", "MultiPolygon")
MAX_NAME_LENGTH = 200
MAX_KIND_LENGTH = 64
PRIORITY_RANGE = (-1000, 1000)


@dataclass(frozen=True)
class ZoneDraft:
    """A feature that passed validation, ready to store."""

    index: int
    name: str
    kind: str
    priority: int
    geometry: MultiPolygon
    repaired: bool


@dataclass(frozen=True)
class FeatureProblem:
    index: int | None
    name: str | None
    field: str
    reason: str

    def message(self) -> str:
        if self.index is None:
            return self.reason
        label = f"feature {self.index}"
        if self.name:
            label += f" ({self.name!r})"
        return f"{label}: {self.reason}"


class DocumentError(ValueError):
    """The document as a whole is not something zones can be read from."""


def check_crs(doc: dict[str, Any]) -> None:
    crs = doc.get("crs")
    if crs is None:
        return
    name = crs.get("properties", {}).get("name") if isinstance(crs, dict) else None
    if name not in WGS84_NAMES:
        raise DocumentError(
            f"only WGS84 longitude/latitude (EPSG:4326, CRS84) is accepted; the document "
            f"declares {name or crs!r}. Reproject it first (e.g. ogr2ogr -t_srs EPSG:4326)."
        )


def iter_features(doc: Any) -> Iterator[Any]:
    """The features of a Feature or FeatureCollection document."""
    if not isinstance(doc, dict):
        raise DocumentError("expected a GeoJSON object (Feature or FeatureCollection)")
    check_crs(doc)
    kind = doc.get("type")
    if kind == "Feature":
        yield doc
    elif kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise DocumentError("a FeatureCollection needs a 'features' array")
        if not features:
            raise DocumentError("the FeatureCollection has no features")
        yield from features
    elif kind in POLYGONAL_TYPES or kind in ("Point", "LineString", "GeometryCollection"):
        raise DocumentError(
            f"got a bare {kind} geometry; send a Feature with properties.name, or a "
            "FeatureCollection"
        )
    else:
        raise DocumentError(f"expected type Feature or FeatureCollection, got {kind!r}")


def validate_feature(feature: Any, index: int, *, repair: bool) -> ZoneDraft | FeatureProblem:
    """Check one feature; with ``repair`` fix what can be fixed instead of refusing it."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return FeatureProblem(index, None, "type", "is not a GeoJSON Feature")
    props = feature.get("properties")
    if props is None:
        props = {}
    if not isinstance(props, dict):
        return FeatureProblem(index, None, "properties", "properties must be an object")
    name = props.get("name")
    if not isinstance(name, str) or not name.strip():
        return FeatureProblem(index, None, "properties.name", "properties.name is required")
    name = name.strip()
    if len(name) > MAX_NAME_LENGTH:
        return FeatureProblem(index, name[:40], "properties.name", "name is too long")

    kind = props.get("kind", "village")
    if not isinstance(kind, str) or not kind.strip() or len(kind) > MAX_KIND_LENGTH:
        return FeatureProblem(index, name, "properties.kind", "kind must be a short text")
    priority = props.get("priority", 0)
    low, high = PRIORITY_RANGE
    if isinstance(priority, bool) or not isinstance(priority, int) or not low <= priority <= high:
        return FeatureProblem(
            index, name, "properties.priority", f"priority must be an integer in {low}..{high}"
        )

    geometry = feature.get("geometry")
    if not isinstance(geometry, dict):
        return FeatureProblem(index, name, "geometry", "has no geometry")
    geom_type = geometry.get("type")
    if geom_type not in POLYGONAL_TYPES:
        return FeatureProblem(
            index,
            name,
            "geometry.type",
            f"geometry must be Polygon or MultiPolygon, not {geom_type!r}",
        )
    try:
        polygons = _read_polygons(geometry.get("coordinates"), geom_type, repair=repair)
    except ValueError as exc:
        return FeatureProblem(index, name, "geometry.coordinates", str(exc))

    shape = MultiPolygon(polygons)
    repaired = False
    if not shape.is_valid:
        reason = explain_validity(shape)
        if not repair:
            hint = "repair fixes it: ?repair=true or --repair"
            return FeatureProblem(index, name, "geometry", f"invalid polygon: {reason} ({hint})")
        fixed = polygonal_part(shapely.make_valid(shape))
        if fixed is None:
            return FeatureProblem(index, name, "geometry", f"cannot be repaired: {reason}")
        shape, repaired = fixed, True
    if shape.area <= 0:
        return FeatureProblem(index, name, "geometry", "polygon has no area")
    return ZoneDraft(index, name, kind.strip(), priority, shape, repaired)


def polygonal_part(geom: BaseGeometry) -> MultiPolygon | None:
    """The polygons left in a geometry, e.g. after make_valid returned a collection."""
    if isinstance(geom, Polygon):
        parts = [geom]
    elif isinstance(geom, MultiPolygon):
        parts = list(geom.geoms)
    elif hasattr(geom, "geoms"):
        parts = []
        for part in geom.geoms:
            sub = polygonal_part(part)
            if sub is not None:
                parts.extend(sub.geoms)
    else:
        parts = []
    parts = [p for p in parts if not p.is_empty and p.area > 0]
    return MultiPolygon(parts) if parts else None


def _read_polygons(coordinates: Any, geom_type: str, *, repair: bool) -> list[Polygon]:
    if not isinstance(coordinates, list | tuple) or not coordinates:
        raise ValueError("coordinates must be a non-empty array")
    polygon_coords = [coordinates] if geom_type == "Polygon" else coordinates
    polygons = []
    for p_index, rings in enumerate(polygon_coords):
        where = f"polygon {p_index}, " if geom_type == "MultiPolygon" else ""
        if not isinstance(rings, list | tuple) or not rings:
            raise ValueError(f"{where}a polygon needs at least an outer ring")
        read = [
            _read_ring(ring, f"{where}ring {r_index}", repair=repair)
            for r_index, ring in enumerate(rings)
        ]
        polygons.append(Polygon(read[0], read[1:]))
    return polygons


def _read_ring(ring: Any, where: str, *, repair: bool) -> list[tuple[float, float]]:
    if not isinstance(ring, list | tuple):
        raise ValueError(f"{where}: a ring must be an array of positions")
    points = [_read_position(position, where) for position in ring]
    if points and points[0] != points[-1]:
        if not repair:
            raise ValueError(
                f"{where}: ring is not closed (its first and last positions differ; "
                "repair closes it: ?repair=true or --repair)"
            )
        points.append(points[0])
    if len(points) < 4:
        raise ValueError(f"{where}: a ring needs at least 4 positions (a closed triangle)")
    return points


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer literal too large for a float: 1000…0 (400 digits)
        return False


def _read_position(position: Any, where: str) -> tuple[float, float]:
    if not isinstance(position, list | tuple) or len(position) not in (2, 3):
        raise ValueError(f"{where}: a position must be [longitude, latitude]")
    lon, lat = position[0], position[1]
    for value in (lon, lat):
        if isinstance(value, bool) or not isinstance(value, int | float) or not _finite(value):
            shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:40]}..."
            raise ValueError(f"{where}: coordinates must be finite numbers, got {shown}")
    if not -180 <= lon <= 180 or not -90 <= lat <= 90:
        raise ValueError(
            f"{where}: position [{lon}, {lat}] is outside longitude -180..180 / latitude -90..90"
            " (GeoJSON is [longitude, latitude])"
        )
    return float(lon), float(lat)
