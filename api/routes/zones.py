import asyncio
import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import Response

from api.deps import PrincipalDep, SessionDep, SettingsDep
from api.guards import OFFICER, RESPONDER, require_org, require_org_object
from core.errors import FieldProblem, InvalidInput, NotFound
from core.tenancy.service import get_organization
from core.types import Latitude, Longitude
from dispatch.inputs import ZoneTeamIn
from dispatch.responders import set_zone_team
from dispatch.views import ZoneTeamOut
from geo import repository as zones_repo
from geo.schemas import ZoneIds, ZoneMatch
from geo.service import import_zones, match_point

router = APIRouter(tags=["care zones"])
GEOJSON = "application/geo+json"

FEATURE_EXAMPLE = {
    "type": "Feature",
    "properties": {"name": "บ้านท่าคันโท หมู่ 1", "kind": "village", "priority": 0},
    "geometry": {
        "type": "Polygon",
        "coordinates": [[[103.25, 16.87], [103.27, 16.87], [103.27, 16.89], [103.25, 16.87]]],
    },
}


_DOCUMENT_BODY = {"schema": {"type": "object"}, "example": FEATURE_EXAMPLE}


async def _read_document(request: Request) -> Any:
    """The request body as JSON, parsed on a worker thread: an import may be
    megabytes, and parsing that on the event loop would hold up SOS intake."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise _not_json(f"send {GEOJSON} or application/json, not {media_type}")
    body = await request.body()
    try:
        return await asyncio.to_thread(json.loads, body)
    except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8
        raise _not_json(f"the body is not valid JSON: {exc}") from exc


def _not_json(message: str) -> InvalidInput:
    return InvalidInput(message, errors=[FieldProblem(loc=["body"], msg=message)])


@router.post(
    "/v1/orgs/{org_id}/zones",
    status_code=status.HTTP_201_CREATED,
    summary="Import care zones from a GeoJSON Feature or FeatureCollection",
    description="All or nothing: one invalid feature refuses the import with 422 naming "
    "every bad feature and why. `?repair=true` closes open rings and repairs invalid "
    "polygons (make_valid) instead. Coordinates are WGS84 [longitude, latitude].",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {GEOJSON: _DOCUMENT_BODY, "application/json": _DOCUMENT_BODY},
        }
    },
)
async def create_zones(
    org_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    repair: bool = False,
) -> ZoneIds:
    require_org(principal, org_id, OFFICER)
    document = await _read_document(request)
    await get_organization(session, org_id)
    return await import_zones(session, organization_id=org_id, document=document, repair=repair)


@router.get(
    "/v1/orgs/{org_id}/zones",
    summary="The organization's care zones as a GeoJSON FeatureCollection",
    response_class=Response,
    responses={200: {"content": {GEOJSON: {"schema": {"type": "object"}}}}},
)
async def list_zones(org_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> Response:
    require_org(principal, org_id, OFFICER, RESPONDER)
    collection = await zones_repo.zones_feature_collection(session, org_id)
    return Response(collection, media_type=GEOJSON)


@router.get("/v1/orgs/{org_id}/zones/match", summary="Zones covering a point, best first")
async def match_zones(
    org_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    lat: Annotated[Latitude, Query()],
    lon: Annotated[Longitude, Query()],
    accuracy_m: Annotated[float | None, Query(ge=0, le=100_000, allow_inf_nan=False)] = None,
) -> list[ZoneMatch]:
    require_org(principal, org_id, OFFICER)
    return await match_point(
        session,
        organization_id=org_id,
        lat=lat,
        lon=lon,
        accuracy_m=accuracy_m,
        max_accuracy_m=settings.zone_match_max_accuracy_m,
    )


@router.put("/v1/zones/{zone_id}/responders", summary="Set a zone's team of responders")
async def put_zone_team(
    zone_id: uuid.UUID, data: ZoneTeamIn, session: SessionDep, principal: PrincipalDep
) -> ZoneTeamOut:
    zone = await zones_repo.get_zone(session, zone_id)
    if zone is None:
        raise NotFound("no such zone")
    require_org_object(principal, zone.organization_id, OFFICER, what="zone")
    return await set_zone_team(
        session,
        zone_id=zone.id,
        organization_id=zone.organization_id,
        responder_ids=data.responder_ids,
    )
