"""Incidents over HTTP. Each command route takes its incident from a guard
(``api.guards``: loaded and authorized once), calls one dispatch command, and
answers with the incident as the caller now sees it."""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.deps import PrincipalDep, SessionDep, SettingsDep
from api.guards import (
    ADMIN,
    OFFICER,
    RESPONDER,
    AnyViewer,
    Assignee,
    AssigneeOrOfficer,
    ElderOrAssignee,
    Offered,
    OfferedOrAssigned,
    Officer,
    OfficerOrElder,
    ResponderDep,
    require_org,
    require_staff,
)
from api.rate_limits import LOCATIONS, OFFER_ACTIONS
from dispatch import escalation, lifecycle, offers
from dispatch.enums import IncidentState
from dispatch.inputs import AssignIn, CancelIn, IncidentCreate, LocationIn, ResolveIn
from dispatch.locations import elder_moved, mark_received, responder_moved
from dispatch.opening import open_on_behalf
from dispatch.queries.facts import incident_facts
from dispatch.queries.incidents import incident_view, list_incidents, offers_for_responder
from dispatch.views import IncidentOut, IncidentSummary, OfferForResponder
from dispatch.visibility import Viewer, viewer_of

router = APIRouter(tags=["SOS and incidents"])


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
    staff = require_staff(principal, ADMIN, OFFICER, RESPONDER)
    incident, created = await open_on_behalf(
        session,
        organization_id=org_id,
        data=data,
        user_id=staff.user_id,
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
async def get_one_incident(access: AnyViewer, session: SessionDep) -> IncidentOut:
    return await access.view(session)


@router.post(
    "/v1/incidents/{incident_id}/accept",
    summary="Accept an offer: 200 when you win, 409 when someone else already did",
    dependencies=[OFFER_ACTIONS],
)
async def accept(
    responder: ResponderDep,
    access: OfferedOrAssigned,
    session: SessionDep,
    settings: SettingsDep,
) -> IncidentOut:
    await lifecycle.accept(
        session,
        incident_id=access.incident.id,
        responder_id=responder.user_id,
        speed_kmh=settings.eta_speed_kmh,
    )
    return await access.view(session)


@router.post(
    "/v1/incidents/{incident_id}/decline",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Decline an offer; the next candidate is offered at once",
    dependencies=[OFFER_ACTIONS],
)
async def decline(responder: ResponderDep, access: Offered, session: SessionDep) -> Response:
    await offers.decline(session, incident_id=access.incident.id, responder_id=responder.user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/v1/incidents/{incident_id}/arrive", summary="The assigned responder is on scene")
async def arrive(access: Assignee, session: SessionDep) -> IncidentOut:
    await lifecycle.arrive(session, incident_id=access.incident.id, responder_id=access.user_id)
    return await access.view(session)


@router.post("/v1/incidents/{incident_id}/resolve", summary="Close the incident with its outcome")
async def resolve(access: AssigneeOrOfficer, data: ResolveIn, session: SessionDep) -> IncidentOut:
    await lifecycle.resolve(
        session,
        incident_id=access.incident.id,
        outcome=data.outcome,
        note=data.note,
        by_user_id=access.principal.user_id,
        by=access.viewer.value,
    )
    return await access.view(session)


@router.post("/v1/incidents/{incident_id}/cancel", summary="Cancel (officer or the elder's device)")
async def cancel(access: OfficerOrElder, data: CancelIn, session: SessionDep) -> IncidentOut:
    await lifecycle.cancel(
        session,
        incident_id=access.incident.id,
        reason=data.reason,
        by=access.viewer.value,
        by_user_id=access.principal.user_id,
    )
    return await access.view(session)


@router.post("/v1/incidents/{incident_id}/assign", summary="Manual dispatch by an officer")
async def assign(
    access: Officer, data: AssignIn, session: SessionDep, settings: SettingsDep
) -> IncidentOut:
    await lifecycle.assign(
        session,
        incident_id=access.incident.id,
        responder_id=data.responder_id,
        officer_id=access.user_id,
        speed_kmh=settings.eta_speed_kmh,
    )
    return await access.view(session)


@router.post(
    "/v1/incidents/{incident_id}/escalate",
    summary="Hand the incident to the fallback (1669) now, with the full dossier (officer)",
)
async def escalate(access: Officer, session: SessionDep) -> IncidentOut:
    await escalation.escalate_now(
        session, incident_id=access.incident.id, officer_id=access.user_id
    )
    return await access.view(session)


@router.post(
    "/v1/incidents/{incident_id}/locations",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="A position during the incident (the elder's device or the assigned responder)",
    dependencies=[LOCATIONS],
)
async def post_incident_location(
    access: ElderOrAssignee, data: LocationIn, session: SessionDep, settings: SettingsDep
) -> Response:
    if access.viewer is Viewer.ELDER:
        await elder_moved(session, incident_id=access.incident.id, location=data)
    else:
        await responder_moved(
            session, responder_id=access.user_id, location=data, speed_kmh=settings.eta_speed_kmh
        )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/v1/offers/{offer_id}/received",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delivery receipt: the offer reached the responder's phone",
)
async def offer_received(
    offer_id: uuid.UUID, session: SessionDep, responder: ResponderDep
) -> Response:
    await mark_received(session, offer_id=offer_id, responder_id=responder.user_id, via="http")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/v1/responders/me/offers", summary="My open offers (a polling fallback for the app)")
async def my_offers(session: SessionDep, responder: ResponderDep) -> list[OfferForResponder]:
    return await offers_for_responder(session, responder.user_id)
