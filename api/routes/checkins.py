"""Daily check-ins: plans (officers), check-ins (the elder's phone, or a caregiver or
officer on the elder's behalf), activity pings, and the officers' list for the map."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Header, Response, status

from api.deps import PrincipalDep, SessionDep
from api.guards import (
    ELDER_DEVICE,
    OFFICER,
    RESPONDER,
    require_kind,
    require_org,
    require_org_object,
)
from api.rate_limits import ACTIVITY, CHECKINS
from dispatch.checkins import flow, plans
from dispatch.checkins.inputs import CheckinIn, CheckinPlanIn
from dispatch.checkins.views import CheckinOut, CheckinPlanOut, CheckinStatusOut, ElderCheckinOut
from dispatch.elders import get_elder
from dispatch.locks import lock_elder

router = APIRouter(tags=["check-ins"])

CheckinKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Made once per tap and resent on every retry: a retry is answered "
        "with the first check-in (1 to 200 printable ASCII characters; another value is "
        "ignored, not refused).",
    ),
]


def _key(value: str | None) -> str | None:
    if value is None or not 1 <= len(value) <= 200 or not value.isascii():
        return None
    return value if value.isprintable() else None


# The elder's own routes come first: /v1/elders/me/... is not an {elder_id}.
@router.get(
    "/v1/elders/me/checkin-plan",
    summary="The elder's phone: when the next check-in is due",
)
async def get_my_status(session: SessionDep, principal: PrincipalDep) -> CheckinStatusOut:
    require_kind(principal, ELDER_DEVICE)
    assert principal.elder_id is not None
    plan = await plans.get_plan(session, principal.elder_id)
    return await plans.status(session, plan, now=flow.utcnow())


@router.put(
    "/v1/elders/{elder_id}/checkin-plan",
    summary="Set an elder's daily check-in times or inactivity timer (and a holiday pause)",
    description="The cycle starts afresh from now (or from the end of the pause). "
    "See docs/checkins.md.",
)
async def put_plan(
    elder_id: uuid.UUID, data: CheckinPlanIn, session: SessionDep, principal: PrincipalDep
) -> CheckinPlanOut:
    elder = await get_elder(session, elder_id)
    require_org_object(principal, elder.organization_id, OFFICER, what="elder")
    locked = await lock_elder(session, elder.id)
    assert locked is not None
    now = flow.utcnow()
    plan = await plans.save_plan(session, locked, data, now=now)
    return await plans.plan_out(session, plan, now=now)


@router.get("/v1/elders/{elder_id}/checkin-plan", summary="An elder's check-in plan and status")
async def get_plan(
    elder_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> CheckinPlanOut:
    elder = await get_elder(session, elder_id)
    require_org_object(principal, elder.organization_id, OFFICER, what="elder")
    return await plans.plan_out(session, await plans.get_plan(session, elder.id), now=flow.utcnow())


@router.delete(
    "/v1/elders/{elder_id}/checkin-plan",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Stop check-ins for an elder (their pending deadlines do nothing)",
)
async def delete_plan(
    elder_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Response:
    elder = await get_elder(session, elder_id)
    require_org_object(principal, elder.organization_id, OFFICER, what="elder")
    await lock_elder(session, elder.id)
    await session.delete(await plans.get_plan(session, elder.id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/v1/elders/me/checkins",
    status_code=status.HTTP_201_CREATED,
    summary="The elder's phone: one tap, \"I'm OK\"",
    description="Counted when it arrives, judged by `captured_at` (when it was tapped): "
    "`on_time`, `late` (within the grace period), `after_grace`, or `early` (before the "
    "window of the next deadline opened: stored, not counted). 409 without a plan.",
    dependencies=[CHECKINS],
)
async def post_my_checkin(
    session: SessionDep,
    principal: PrincipalDep,
    idempotency_key: CheckinKey = None,
    data: CheckinIn = Body(default_factory=CheckinIn),
) -> CheckinOut:
    require_kind(principal, ELDER_DEVICE)
    assert principal.elder_id is not None
    return await flow.check_in(
        session,
        elder_id=principal.elder_id,
        captured_at=data.captured_at,
        by_user_id=None,
        idempotency_key=_key(idempotency_key),
        now=flow.utcnow(),
    )


@router.post(
    "/v1/elders/{elder_id}/checkins",
    status_code=status.HTTP_201_CREATED,
    summary="A caregiver or officer checks in on the elder's behalf",
    dependencies=[CHECKINS],
)
async def post_checkin_for(
    elder_id: uuid.UUID,
    session: SessionDep,
    principal: PrincipalDep,
    idempotency_key: CheckinKey = None,
    data: CheckinIn = Body(default_factory=CheckinIn),
) -> CheckinOut:
    elder = await get_elder(session, elder_id)
    require_org_object(principal, elder.organization_id, OFFICER, RESPONDER, what="elder")
    return await flow.check_in(
        session,
        elder_id=elder.id,
        captured_at=data.captured_at,
        by_user_id=principal.user_id,
        idempotency_key=_key(idempotency_key),
        now=flow.utcnow(),
    )


@router.post(
    "/v1/elders/me/activity",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="The elder's phone was used: resets an inactivity timer",
    dependencies=[ACTIVITY],
)
async def post_activity(
    session: SessionDep,
    principal: PrincipalDep,
    data: CheckinIn = Body(default_factory=CheckinIn),
) -> Response:
    require_kind(principal, ELDER_DEVICE)
    assert principal.elder_id is not None
    await flow.activity(
        session, elder_id=principal.elder_id, captured_at=data.captured_at, now=flow.utcnow()
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/v1/orgs/{org_id}/checkins",
    summary="Every elder with a check-in plan and where it stands (missed first)",
)
async def list_checkins(
    org_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> list[ElderCheckinOut]:
    require_org(principal, org_id, OFFICER)
    return await plans.org_statuses(session, org_id, now=flow.utcnow())
