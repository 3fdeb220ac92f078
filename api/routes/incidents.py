import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import PrincipalDep, SessionDep, SettingsDep
from api.policy import OFFICER, RESPONDER, require_incident_viewer, require_kind, require_org
from api.rate_limits import LOCATIONS, OFFER_ACTIONS
from core.principal import Principal
from dispatch import engine
from dispatch.enums import IncidentState
from dispatch.incidents import (
    get_incident,
    incident_facts,
    incident_view,
    list_incidents,
    offers_for_responder,
    open_on_behalf,
)
from dispatch.locations import elder_moved, mark_received, responder_moved
from dispatch.models import Incident
from dispatch.policies import get_policy
from dispatch.schemas import (
    AssignIn,
    CancelIn,
    IncidentCreate,
    IncidentOut,
    IncidentSummary,
    LocationIn,
    OfferForResponder,
    ResolveIn,
)
from dispatch.visibility import Viewer, viewer_of

router = APIRouter(tags=["SOS and incidents"])


async def _view(session: AsyncSession, incident: Incident, principal: Principal) -> IncidentOut:
    facts = await incident_facts(session, incident)
    viewer = require_incident_viewer(principal, facts, *Viewer)
    return await incident_view(session, incident, viewer=viewer, principal=principal)


async def _authorize(
    session: AsyncSession, incident_id: uuid.UUID, principal: Principal, *allowed: Viewer
) -> Viewer:
    incident = await get_incident(session, incident_id)
    return require_incident_viewer(principal, await incident_facts(session, incident), *allowed)


@router.post(
    "/v1/orgs/{org_id}/incidents",
    status_code=status.HTTP_201_CREATED,
    summary="Open an incident on an elder's behalf (201), or join the active one (200)",
)
async def post_incident(
    org_id: uuid.UUID,
    data: IncidentCreate,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> IncidentOut:
    require_org(principal, org_id, OFFICER, RESPONDER)
    assert principal.user_id is not None
    incident, created = await open_on_behalf(
        session,
        organization_id=org_id,
        data=data,
        user_id=principal.user_id,
        max_accuracy_m=settings.zone_match_max_accuracy_m,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    await session.flush()
    # The caller's relation to the incident, as GET /v1/incidents/{id} sees it.
    viewer = viewer_of(principal, await incident_facts(session, incident))
    view = await incident_view(
        session, incident, viewer=viewer or Viewer.OFFERED, principal=principal
    )
    if viewer is None:
        # A responder neither offered nor assigned (GET answers them 404) learns that the
        # incident is open and its state, not its timeline or who is coming.
        return view.model_copy(update={"responder": None, "offers": [], "events": [], "trail": []})
    return view


@router.get("/v1/orgs/{org_id}/incidents", summary="The organization's incidents, newest first")
async def get_incidents(
    org_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    state: IncidentState | None = None,
    zone_id: uuid.UUID | None = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[IncidentSummary]:
    require_org(principal, org_id, OFFICER)
    return await list_incidents(
        session, organization_id=org_id, state=state, zone_id=zone_id, since=since, limit=limit
    )


@router.get(
    "/v1/incidents/{incident_id}",
    summary="One incident with its timeline, offers and responder",
    description="Medical details only for officers and the assigned responder; a responder "
    "sees only their own offer; the elder's device sees who is coming.",
)
async def get_one_incident(
    incident_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> IncidentOut:
    return await _view(session, await get_incident(session, incident_id), principal)


@router.post(
    "/v1/incidents/{incident_id}/accept",
    summary="Accept an offer: 200 when you win, 409 when someone else already did",
    dependencies=[OFFER_ACTIONS],
)
async def accept(
    incident_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> IncidentOut:
    require_kind(principal, RESPONDER)
    await _authorize(session, incident_id, principal, Viewer.OFFERED, Viewer.ASSIGNED)
    assert principal.user_id is not None
    incident = await get_incident(session, incident_id)
    policy = await get_policy(session, incident.organization_id)
    incident = await engine.accept(
        session, incident_id=incident_id, responder_id=principal.user_id, policy=policy
    )
    return await _view(session, incident, principal)


@router.post(
    "/v1/incidents/{incident_id}/decline",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Decline an offer; the next candidate is offered at once",
    dependencies=[OFFER_ACTIONS],
)
async def decline(incident_id: uuid.UUID, session: SessionDep, principal: PrincipalDep) -> Response:
    require_kind(principal, RESPONDER)
    await _authorize(session, incident_id, principal, Viewer.OFFERED)
    assert principal.user_id is not None
    incident = await get_incident(session, incident_id)
    policy = await get_policy(session, incident.organization_id)
    await engine.decline(
        session, incident_id=incident_id, responder_id=principal.user_id, policy=policy
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/v1/incidents/{incident_id}/arrive", summary="The assigned responder is on scene")
async def arrive(
    incident_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> IncidentOut:
    await _authorize(session, incident_id, principal, Viewer.ASSIGNED)
    assert principal.user_id is not None
    incident = await engine.arrive(session, incident_id=incident_id, responder_id=principal.user_id)
    return await _view(session, incident, principal)


@router.post("/v1/incidents/{incident_id}/resolve", summary="Close the incident with its outcome")
async def resolve(
    incident_id: uuid.UUID, data: ResolveIn, session: SessionDep, principal: PrincipalDep
) -> IncidentOut:
    viewer = await _authorize(session, incident_id, principal, Viewer.ASSIGNED, Viewer.OFFICER)
    incident = await engine.resolve(
        session,
        incident_id=incident_id,
        outcome=data.outcome,
        note=data.note,
        by_user_id=principal.user_id,
        by=viewer.value,
    )
    return await _view(session, incident, principal)


@router.post("/v1/incidents/{incident_id}/cancel", summary="Cancel (officer or the elder's device)")
async def cancel(
    incident_id: uuid.UUID, data: CancelIn, session: SessionDep, principal: PrincipalDep
) -> IncidentOut:
    viewer = await _authorize(session, incident_id, principal, Viewer.OFFICER, Viewer.ELDER)
    incident = await engine.cancel(
        session,
        incident_id=incident_id,
        reason=data.reason,
        by=viewer.value,
        by_user_id=principal.user_id,
    )
    return await _view(session, incident, principal)


@router.post("/v1/incidents/{incident_id}/assign", summary="Manual dispatch by an officer")
async def assign(
    incident_id: uuid.UUID, data: AssignIn, session: SessionDep, principal: PrincipalDep
) -> IncidentOut:
    await _authorize(session, incident_id, principal, Viewer.OFFICER)
    incident = await get_incident(session, incident_id)
    policy = await get_policy(session, incident.organization_id)
    incident = await engine.assign(
        session,
        incident_id=incident_id,
        responder_id=data.responder_id,
        officer_id=principal.user_id,
        policy=policy,
    )
    return await _view(session, incident, principal)


@router.post(
    "/v1/incidents/{incident_id}/escalate",
    summary="Hand the incident to the fallback (1669) now, with the full dossier (officer)",
)
async def escalate(
    incident_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> IncidentOut:
    await _authorize(session, incident_id, principal, Viewer.OFFICER)
    incident = await engine.escalate_now(
        session, incident_id=incident_id, officer_id=principal.user_id
    )
    return await _view(session, incident, principal)


@router.post(
    "/v1/incidents/{incident_id}/locations",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="A position during the incident (the elder's device or the assigned responder)",
    dependencies=[LOCATIONS],
)
async def post_incident_location(
    incident_id: uuid.UUID,
    data: LocationIn,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> Response:
    viewer = await _authorize(session, incident_id, principal, Viewer.ELDER, Viewer.ASSIGNED)
    if viewer is Viewer.ELDER:
        await elder_moved(session, incident_id=incident_id, location=data)
    else:
        assert principal.user_id is not None
        await responder_moved(
            session, responder_id=principal.user_id, location=data, speed_kmh=settings.eta_speed_kmh
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/v1/offers/{offer_id}/received",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delivery receipt: the offer reached the responder's phone",
)
async def offer_received(
    offer_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Response:
    require_kind(principal, RESPONDER)
    assert principal.user_id is not None
    await mark_received(session, offer_id=offer_id, responder_id=principal.user_id, via="http")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/v1/responders/me/offers", summary="My open offers (a polling fallback for the app)")
async def my_offers(session: SessionDep, principal: PrincipalDep) -> list[OfferForResponder]:
    require_kind(principal, RESPONDER)
    assert principal.user_id is not None
    return await offers_for_responder(session, principal.user_id)
