"""Safe zones (officers) and the elder's positions outside incidents (the elder's phone)."""

import uuid

from fastapi import APIRouter, Body, Response, status

from api.deps import PrincipalDep, SessionDep, SettingsDep
from api.guards import ELDER_DEVICE, OFFICER, require_kind, require_org, require_org_object
from api.rate_limits import POSITIONS
from dispatch.elders import get_elder
from dispatch.wander import detect
from dispatch.wander.detect import receive_positions
from dispatch.wander.inputs import FixesIn, FixIn, SafeZoneIn
from dispatch.wander.views import ElderZoneStateOut, PositionsOut, SafeZoneOut
from dispatch.wander.zones import get_zone, org_states, save_zone, zone_out, zones_of

router = APIRouter(tags=["safe zones"])


@router.post(
    "/v1/elders/me/positions",
    summary="Positions from the elder's phone outside incidents (one fix or a batch)",
    description=(
        "Fixes are stored (deleted after `PHIKAT_LOCATION_RETENTION_DAYS`) and judged against "
        "each of the elder's safe zones in `captured_at` order; a fix not newer than one "
        "already taken is ignored (`ignored_late`). A wander alert (family and officers, "
        "then an incident with trigger `wander`) is raised as described in "
        "docs/safe-zones.md. Limited per device (`PHIKAT_POSITIONS_PER_MIN`, 429)."
    ),
    dependencies=[POSITIONS],
)
async def post_positions(
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    body: FixesIn | FixIn = Body(),
) -> PositionsOut:
    require_kind(principal, ELDER_DEVICE)
    assert principal.elder_id is not None
    fixes = body.fixes if isinstance(body, FixesIn) else [body]
    return await receive_positions(
        session,
        elder_id=principal.elder_id,
        fixes=fixes,
        max_accuracy_m=settings.zone_match_max_accuracy_m,
    )


@router.post(
    "/v1/elders/{elder_id}/safe-zones",
    status_code=status.HTTP_201_CREATED,
    summary="Set a safe zone for an elder (a polygon, or a circle around home)",
)
async def post_safe_zone(
    elder_id: uuid.UUID, data: SafeZoneIn, session: SessionDep, principal: PrincipalDep
) -> SafeZoneOut:
    elder = await get_elder(session, elder_id)
    require_org_object(principal, elder.organization_id, OFFICER, what="elder")
    return await zone_out(session, await save_zone(session, elder, data))


@router.get("/v1/elders/{elder_id}/safe-zones", summary="An elder's safe zones and their state")
async def get_safe_zones(
    elder_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> list[SafeZoneOut]:
    elder = await get_elder(session, elder_id)
    require_org_object(principal, elder.organization_id, OFFICER, what="elder")
    return [await zone_out(session, z) for z in await zones_of(session, elder.id)]


@router.get("/v1/elders/{elder_id}/safe-zones/{zone_id}", summary="One safe zone")
async def get_safe_zone(
    elder_id: uuid.UUID, zone_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> SafeZoneOut:
    elder = await get_elder(session, elder_id)
    require_org_object(principal, elder.organization_id, OFFICER, what="elder")
    return await zone_out(session, await get_zone(session, elder.id, zone_id))


@router.put(
    "/v1/elders/{elder_id}/safe-zones/{zone_id}",
    summary="Replace a safe zone (its wander state starts afresh)",
)
async def put_safe_zone(
    elder_id: uuid.UUID,
    zone_id: uuid.UUID,
    data: SafeZoneIn,
    session: SessionDep,
    principal: PrincipalDep,
) -> SafeZoneOut:
    elder = await get_elder(session, elder_id)
    require_org_object(principal, elder.organization_id, OFFICER, what="elder")
    zone = await get_zone(session, elder.id, zone_id)
    return await zone_out(session, await save_zone(session, elder, data, zone))


@router.delete(
    "/v1/elders/{elder_id}/safe-zones/{zone_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a safe zone",
)
async def delete_safe_zone(
    elder_id: uuid.UUID, zone_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Response:
    elder = await get_elder(session, elder_id)
    require_org_object(principal, elder.organization_id, OFFICER, what="elder")
    await session.delete(await get_zone(session, elder.id, zone_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/v1/orgs/{org_id}/safe-zones",
    summary="Every safe zone of the organization and its wander state (the officers' map)",
)
async def list_org_safe_zones(
    org_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> list[ElderZoneStateOut]:
    require_org(principal, org_id, OFFICER)
    return await org_states(session, org_id, detect.utcnow())
