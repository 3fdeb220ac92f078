"""The 1669 hand-off: the organization's centre (webhook URL and shared secret), the
centre's signed answers, and the printable sheet."""

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import AnyHttpUrl, BaseModel, Field
from sqlalchemy import func, select

from api.deps import PrincipalDep, SessionDep
from api.guards import OFFICER, require_org, require_org_object
from core.errors import InvalidInput, NotFound, Unauthenticated
from core.inputs import InputModel
from dispatch.handoff_answers import HandoffAnswerIn, record_answer
from dispatch.handoff_record import build_record
from dispatch.handoff_send import gather_facts, handing_officer, log_disclosure
from dispatch.handoff_sheet import render_sheet
from dispatch.models import Incident
from notifications.messages import Route
from notifications.models import HandoffEndpoint, OutboxMessage
from notifications.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

router = APIRouter(tags=["1669 hand-off"])


class HandoffCentreIn(InputModel):
    url: AnyHttpUrl
    secret: Annotated[str, Field(min_length=32, max_length=200)]


class HandoffCentreOut(BaseModel):
    url: str
    secret_set: bool
    updated_at: datetime


class AnswerRecorded(BaseModel):
    recorded: bool  # false: the same answer was received before


@router.put(
    "/v1/orgs/{org_id}/handoff-centre",
    summary="Set the province 1669 centre's webhook URL and shared secret",
    description="Officers of the organization and the admin. The secret (32 to 200 "
    "characters) signs the records sent and the centre's answers; it is never returned.",
)
async def put_centre(
    org_id: uuid.UUID, body: HandoffCentreIn, session: SessionDep, principal: PrincipalDep
) -> HandoffCentreOut:
    require_org(principal, org_id, OFFICER)
    endpoint = await session.get(HandoffEndpoint, org_id)
    if endpoint is None:
        endpoint = HandoffEndpoint(organization_id=org_id, url=str(body.url), secret=body.secret)
        session.add(endpoint)
    else:
        endpoint.url, endpoint.secret = str(body.url), body.secret
    await session.flush()
    await session.refresh(endpoint)
    return HandoffCentreOut(url=endpoint.url, secret_set=True, updated_at=endpoint.updated_at)


@router.get(
    "/v1/orgs/{org_id}/handoff-centre",
    summary="The province 1669 centre's webhook (the secret is not shown)",
)
async def get_centre(
    org_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> HandoffCentreOut:
    require_org(principal, org_id, OFFICER)
    endpoint = await session.get(HandoffEndpoint, org_id)
    if endpoint is None:
        raise NotFound("no 1669 centre configured")
    return HandoffCentreOut(url=endpoint.url, secret_set=True, updated_at=endpoint.updated_at)


@router.post(
    "/v1/orgs/{org_id}/handoff/answers",
    summary="The 1669 centre's answer to a hand-off (signed with the shared secret)",
    description="Accepted, rejected (with a reason), dispatched, arrived, closed (with a "
    f"disposition). No bearer token: the body is signed, `{TIMESTAMP_HEADER}` (Unix "
    f"seconds) and `{SIGNATURE_HEADER}` (`v1=` + hex HMAC-SHA256 of `timestamp.body`); "
    "older than 5 minutes or badly signed is 401. The same `answer_id` twice is one answer.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": HandoffAnswerIn.model_json_schema()}},
        }
    },
)
async def post_answer(org_id: uuid.UUID, request: Request, session: SessionDep) -> AnswerRecorded:
    body = await request.body()
    endpoint = await session.get(HandoffEndpoint, org_id)
    # The same answer whether the organization has no centre or the signature is wrong.
    problem = (
        verify(
            endpoint.secret,
            body,
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            signed=request.headers.get(SIGNATURE_HEADER),
        )
        if endpoint
        else "no 1669 centre configured"
    )
    if problem is not None:
        raise Unauthenticated("the answer is not signed by this organization's 1669 centre")
    try:
        answer = HandoffAnswerIn.model_validate_json(body)
    except ValueError as exc:
        raise InvalidInput(f"not a hand-off answer: {str(exc)[:300]}") from None
    return AnswerRecorded(
        recorded=await record_answer(session, organization_id=org_id, answer=answer)
    )


@router.get(
    "/v1/incidents/{incident_id}/handoff/sheet",
    response_class=HTMLResponse,
    summary="The printable one-page hand-off sheet (A4), Thai or English",
    description="Officers of the incident's organization, at any point of the incident (a "
    "sheet faxed before the escalation is a hand-off too: its hand-off time is the time of "
    "printing). Each view is logged in the medical-access log.",
)
async def get_sheet(
    incident_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    lang: Annotated[Literal["th", "en"], Query()] = "th",
) -> HTMLResponse:
    incident = await session.get(Incident, incident_id)
    if incident is None:
        raise NotFound("no such incident")
    require_org_object(principal, incident.organization_id, OFFICER, what="incident")
    sent = await session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.incident_id == incident.id, OutboxMessage.route == Route.HANDOFF)
    )
    facts = await gather_facts(
        session,
        incident,
        version=max(sent or 0, 1),
        cause="sheet",
        officer_id=await handing_officer(session, incident.id),
    )
    log_disclosure(session, incident, officer_id=principal.user_id)
    return HTMLResponse(render_sheet(build_record(facts), lang))
