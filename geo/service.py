"""Care-zone use cases: import GeoJSON, list, match a point."""

import asyncio
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import FieldProblem, InvalidInput
from geo import repository
from geo.geojson import DocumentError, FeatureProblem, ZoneDraft, iter_features, validate_feature
from geo.schemas import ZoneIds, ZoneMatch


def validate_features(
    features: Iterable[Any], *, repair: bool
) -> tuple[list[ZoneDraft], list[FeatureProblem]]:
    drafts: list[ZoneDraft] = []
    problems: list[FeatureProblem] = []
    for index, feature in enumerate(features):
        result = validate_feature(feature, index, repair=repair)
        (drafts if isinstance(result, ZoneDraft) else problems).append(result)  # type: ignore[arg-type]
    return drafts, problems


def _validate_document(
    document: Any, *, repair: bool
) -> tuple[list[ZoneDraft], list[FeatureProblem]]:
    try:
        features = list(iter_features(document))
    except DocumentError as exc:
        raise InvalidInput(str(exc), errors=[FieldProblem(loc=["body"], msg=str(exc))]) from exc
    return validate_features(features, repair=repair)


def problems_to_error(problems: list[FeatureProblem]) -> InvalidInput:
    first = problems[0].message()
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return InvalidInput(
        f"{first}{more}; no zone was imported",
        errors=[
            FieldProblem(
                loc=["body", "features", p.index, *p.field.split(".")]
                if p.index is not None
                else ["body"],
                msg=p.message(),
            )
            for p in problems
        ],
    )


async def import_zones(
    session: AsyncSession, *, organization_id: uuid.UUID, document: Any, repair: bool
) -> ZoneIds:
    """Store every feature of a Feature/FeatureCollection, or none if any is bad.

    Validation and repair (Shapely's make_valid on polygons of any size) run on a
    worker thread, never on the event loop.
    """
    drafts, problems = await asyncio.to_thread(_validate_document, document, repair=repair)
    if problems:
        raise problems_to_error(problems)
    ids = await repository.insert_zones(session, organization_id, drafts)
    return ZoneIds(ids=ids, repaired=[d.index for d in drafts if d.repaired])


async def match_point(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    lat: float,
    lon: float,
    accuracy_m: float | None,
    max_accuracy_m: float,
) -> list[ZoneMatch]:
    radius = min(accuracy_m or 0.0, max_accuracy_m)
    return await repository.match_zones(
        session, organization_id, lat=lat, lon=lon, accuracy_m=radius
    )
