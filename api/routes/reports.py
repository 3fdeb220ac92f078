import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from api.deps import PrincipalDep, SessionDep
from api.guards import OFFICER, require_org
from core.errors import FieldProblem, InvalidInput
from dispatch.reports import incidents_geojson, response_times
from dispatch.views import ResponseTimes

router = APIRouter(tags=["reports"])
From = Annotated[datetime | None, Query(alias="from", description="Default: 30 days ago")]
To = Annotated[datetime | None, Query(alias="to", description="Default: now")]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def period(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """The report's period, UTC (a time without a zone is taken as UTC)."""
    end = _utc(end or datetime.now(UTC))
    start = _utc(start or end - timedelta(days=30))
    if start >= end:
        raise InvalidInput(
            "'from' must be before 'to'",
            errors=[FieldProblem(loc=["query", "from"], msg="after 'to'")],
        )
    if end - start > timedelta(days=400):
        raise InvalidInput(
            "the period is limited to 400 days",
            errors=[FieldProblem(loc=["query", "from"], msg="too long a period")],
        )
    return start, end


@router.get(
    "/v1/orgs/{org_id}/reports/response-times",
    summary="p50/p90 seconds to first receipt, accept and arrival, overall and per zone",
)
async def get_response_times(
    org_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    start: From = None,
    end: To = None,
) -> ResponseTimes:
    require_org(principal, org_id, OFFICER)
    first, last = period(start, end)
    return await response_times(session, organization_id=org_id, start=first, end=last)


@router.get(
    "/v1/orgs/{org_id}/incidents.geojson",
    summary="Incidents of a period as GeoJSON",
    response_class=JSONResponse,
    responses={200: {"content": {"application/geo+json": {}}}},
)
async def export_incidents(
    org_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    start: From = None,
    end: To = None,
) -> JSONResponse:
    require_org(principal, org_id, OFFICER)
    first, last = period(start, end)
    collection = await incidents_geojson(session, organization_id=org_id, start=first, end=last)
    return JSONResponse(collection, media_type="application/geo+json")
