"""Unit tests of GeoJSON validation and repair (no database)."""

import math
from typing import Any

import pytest

from geo.geojson import DocumentError, FeatureProblem, ZoneDraft, iter_features, validate_feature
from tests.factories import NORTH, collection, feature, square


def check(feat: dict[str, Any], *, repair: bool = False) -> ZoneDraft | FeatureProblem:
    return validate_feature(feat, 0, repair=repair)


def test_valid_polygon_becomes_a_multipolygon_draft() -> None:
    draft = check(feature("North", NORTH, priority=5, kind="community"))
    assert isinstance(draft, ZoneDraft)
    assert draft.geometry.geom_type == "MultiPolygon"
    assert (draft.name, draft.kind, draft.priority, draft.repaired) == (
        "North",
        "community",
        5,
        False,
    )


def test_polygon_with_a_hole_keeps_it() -> None:
    rings = square(0, 0, 10, 10) + square(4, 4, 6, 6)
    draft = check(feature("Holed", rings))
    assert isinstance(draft, ZoneDraft)
    assert draft.geometry.area == pytest.approx(100 - 4)


def test_multipolygon_is_accepted() -> None:
    draft = check(
        feature("Two", [square(0, 0, 1, 1), square(2, 2, 3, 3)], geometry_type="MultiPolygon")
    )
    assert isinstance(draft, ZoneDraft)
    assert len(draft.geometry.geoms) == 2


def test_unclosed_ring_is_refused_and_repairable() -> None:
    open_ring = [[[0, 0], [1, 0], [1, 1], [0, 1]]]
    problem = check(feature("Open", open_ring))
    assert isinstance(problem, FeatureProblem)
    assert "not closed" in problem.reason
    assert "'Open'" in problem.message()
    repaired = check(feature("Open", open_ring), repair=True)
    assert isinstance(repaired, ZoneDraft)
    assert repaired.geometry.area == pytest.approx(1)


def test_self_intersecting_bowtie_is_refused_with_the_reason_and_repairable() -> None:
    bowtie = [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]
    problem = check(feature("Bowtie", bowtie))
    assert isinstance(problem, FeatureProblem)
    assert "Self-intersection" in problem.reason
    repaired = check(feature("Bowtie", bowtie), repair=True)
    assert isinstance(repaired, ZoneDraft)
    assert repaired.repaired
    assert repaired.geometry.is_valid
    assert repaired.geometry.area == pytest.approx(2)


@pytest.mark.parametrize(
    ("geometry", "reason"),
    [
        ({"type": "Point", "coordinates": [103.2, 16.8]}, "Polygon or MultiPolygon"),
        ({"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, "Polygon or MultiPolygon"),
        ({"type": "Polygon", "coordinates": []}, "non-empty"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]}, "at least 4"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, "x"], [0, 0]]]}, "finite"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, math.nan], [0, 0]]]}, "finite"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [200, 0], [1, 1], [0, 0]]]}, "outside"),
        (
            {"type": "Polygon", "coordinates": [[[0, 0], [1], [1, 1], [0, 0]]]},
            "[longitude, latitude]",
        ),
        (None, "no geometry"),
    ],
)
def test_bad_geometries_name_the_reason(geometry: object, reason: str) -> None:
    problem = check({"type": "Feature", "properties": {"name": "Bad"}, "geometry": geometry})
    assert isinstance(problem, FeatureProblem)
    assert reason in problem.reason


def test_missing_name_and_bad_priority_are_refused() -> None:
    nameless = check(
        {"type": "Feature", "properties": {}, "geometry": feature("x", NORTH)["geometry"]}
    )
    assert isinstance(nameless, FeatureProblem) and nameless.field == "properties.name"
    bad_priority = check(feature("P", NORTH, priority="high"))
    assert isinstance(bad_priority, FeatureProblem) and bad_priority.field == "properties.priority"


def test_zero_area_polygon_is_refused_even_with_repair() -> None:
    flat = [[[0, 0], [1, 0], [2, 0], [0, 0]]]
    assert isinstance(check(feature("Flat", flat), repair=True), FeatureProblem)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "GeoJSON object"),
        ({"type": "Point", "coordinates": [0, 0]}, "bare Point"),
        ({"type": "Topology"}, "Feature or FeatureCollection"),
        ({"type": "FeatureCollection"}, "'features' array"),
        ({"type": "FeatureCollection", "features": []}, "no features"),
        (
            {
                "type": "FeatureCollection",
                "features": [],
                "crs": {"type": "name", "properties": {"name": "EPSG:32648"}},
            },
            "WGS84",
        ),
    ],
)
def test_document_level_errors(doc: object, message: str) -> None:
    with pytest.raises(DocumentError, match=message):
        list(iter_features(doc))


def test_wgs84_crs_declarations_are_accepted() -> None:
    doc = collection(feature("A", NORTH))
    doc["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    assert len(list(iter_features(doc))) == 1
