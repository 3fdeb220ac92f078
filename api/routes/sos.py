from typing import Annotated

from fastapi import APIRouter, Header, Response, status

from api.deps import PrincipalDep, SessionDep, SettingsDep
from api.policy import ELDER_DEVICE, require_kind
from core.rate_limit import Rate
from dispatch.schemas import SosIn, SosOut
from dispatch.sos import SosOutcome, receive_sos

router = APIRouter(tags=["SOS and incidents"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="A UUID the phone makes once per press and resends on every retry.",
    ),
]


@router.post(
    "/v1/sos",
    status_code=status.HTTP_201_CREATED,
    summary="An elder's SOS (button, fall detection, missed check-in)",
    description=(
        "201 when a new incident opens. 200 with the same incident when the elder already "
        "has an active incident (the press joins it) or when the Idempotency-Key was seen "
        "before (header `Idempotent-Replayed: true`). The same key with a different body is "
        "409. Without coordinates the elder's home location is used. Presses that join an "
        "active incident are limited per device (429 + Retry-After, naming `incident_id`); "
        "a retry or a press that opens an incident never is."
    ),
    responses={200: {"description": "Joined the active incident, or a replayed retry"}},
)
async def post_sos(
    data: SosIn,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> SosOut:
    require_kind(principal, ELDER_DEVICE)
    assert principal.elder_id is not None
    result = await receive_sos(
        session,
        elder_id=principal.elder_id,
        idempotency_key=idempotency_key,
        payload=data,
        max_accuracy_m=settings.zone_match_max_accuracy_m,
        limit_key=f"sos:{principal.device_token_id}",
        press_rate=Rate(settings.sos_presses_per_min),
    )
    if result.outcome != SosOutcome.CREATED:
        response.status_code = status.HTTP_200_OK
    if result.outcome == SosOutcome.REPLAYED:
        response.headers["Idempotent-Replayed"] = "true"
    return result.body
