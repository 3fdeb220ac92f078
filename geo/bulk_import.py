"""Importing a large GeoJSON file feature by feature, without loading it whole."""

import asyncio
import itertools
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import ijson
from sqlalchemy.ext.asyncio import AsyncSession

from geo import repository
from geo.geojson import (
    DocumentError,
    FeatureProblem,
    ZoneDraft,
    check_crs,
    validate_feature,
)


@dataclass
class ImportReport:
    seen: int = 0
    imported: list[uuid.UUID] = field(default_factory=list)
    repaired: list[int] = field(default_factory=list)
    problems: list[FeatureProblem] = field(default_factory=list)


def _first_item(path: Path, prefix: str) -> Any:
    with path.open("rb") as f:
        return next(ijson.items(f, prefix, use_float=True), None)


def check_document(path: Path) -> str:
    """The document's top-level type, after checking it declares no foreign CRS."""
    try:
        kind = _first_item(path, "type")
        crs = _first_item(path, "crs")
    except ijson.JSONError as exc:
        raise DocumentError(f"not valid JSON: {exc}") from exc
    if crs is not None:
        check_crs({"crs": crs})
    if kind not in ("Feature", "FeatureCollection"):
        raise DocumentError(f"expected type Feature or FeatureCollection, got {kind!r}")
    return str(kind)


def stream_features(f: IO[bytes], kind: str) -> Iterable[Any]:
    if kind == "Feature":
        yield from ijson.items(f, "", use_float=True)
    else:
        yield from ijson.items(f, "features.item", use_float=True)


async def import_features(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    features: Iterable[Any],
    repair: bool,
    skip_invalid: bool,
    batch_size: int = 500,
    on_feature: Callable[[], None] = lambda: None,
) -> ImportReport:
    """Validate and insert features in batches inside the caller's transaction.

    Without ``skip_invalid`` the caller must roll back when ``problems`` is not
    empty: nothing of a file with a bad feature is kept unless asked.
    """
    report = ImportReport()
    # Reading, validating and repairing a batch (ijson, Shapely's make_valid) run
    # on a worker thread; the event loop only inserts.
    numbered = enumerate(features)
    while results := await asyncio.to_thread(
        _validate_batch, numbered, batch_size, repair=repair, on_feature=on_feature
    ):
        batch: list[ZoneDraft] = []
        for result in results:
            report.seen += 1
            if isinstance(result, FeatureProblem):
                report.problems.append(result)
                continue
            if result.repaired:
                report.repaired.append(result.index)
            batch.append(result)
        if batch and (skip_invalid or not report.problems):
            report.imported.extend(await repository.insert_zones(session, organization_id, batch))
    return report


def _validate_batch(
    numbered: Iterator[tuple[int, Any]],
    size: int,
    *,
    repair: bool,
    on_feature: Callable[[], None],
) -> list[ZoneDraft | FeatureProblem]:
    """The next ``size`` features read and checked (fewer at the end, none after it)."""
    results: list[ZoneDraft | FeatureProblem] = []
    for index, feature in itertools.islice(numbered, size):
        results.append(validate_feature(feature, index, repair=repair))
        on_feature()
    return results
