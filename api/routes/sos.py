from typing import Annotated

from fastapi import APIRouter, Header, Request, Response, status

from api.deps import PrincipalDep, SessionDep, SettingsDep
from api.guards import ELDER_DEVICE, require_kind
from core.errors import FieldProblem, InvalidInput
from core.rate_limit import Rate
from dispatch.inputs import SosIn
from dispatch.sos import SosOutcome, receive_sos
from dispatch.sos_input import NotAnObject, read_sos
from dispatch.views import SosOut

router = APIRouter(tags=["SOS and incidents"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="A UUID the phone makes once per press and resends on every retry "
        "(1 to 255 printable ASCII characters; another value is ignored, not refused).",
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
        "a retry or a press that opens an incident never is. A broken optional field "
        "(a bad timestamp, battery, accuracy or position, an unknown trigger) never refuses "
        "an SOS: it is dropped, listed in `ignored` and on the timeline; only a body that "
        "is not a JSON object is 422."
    ),
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": SosIn.model_json_schema()}},
        }
    },
    responses={200: {"description": "Joined the active incident, or a replayed retry"}},
)
async def post_sos(
    request: Request,
    response: Response,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> SosOut:
    require_kind(principal, ELDER_DEVICE)
    assert principal.elder_id is not None
    try:
        sos = read_sos(await request.body(), idempotency_key)
    except NotAnObject as exc:
        raise InvalidInput(str(exc), [FieldProblem(["body"], str(exc))]) from None
    result = await receive_sos(
        session,
        elder_id=principal.elder_id,
        idempotency_key=sos.idempotency_key,
        payload=sos.payload,
        ignored=sos.ignored,
        max_accuracy_m=settings.zone_match_max_accuracy_m,
        limit_key=f"sos:{principal.device_token_id}",
        press_rate=Rate(settings.sos_presses_per_min),
    )
    # Remembered for the answer while the database is unavailable (api/unavailable.py).
    request.app.state.fallback_phones.remember(
        str(principal.device_token_id), result.body.fallback_phone
    )
    if result.outcome != SosOutcome.CREATED:
        response.status_code = status.HTTP_200_OK
    if result.outcome == SosOutcome.REPLAYED:
        response.headers["Idempotent-Replayed"] = "true"
    return result.body
