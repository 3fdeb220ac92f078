"""Taking an SOS from an elder's phone: exactly one incident, however often it is sent."""

import hashlib
import json
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import log_context
from core.errors import Conflict, NotFound, TooManyRequests
from core.rate_limit import Rate, take
from core.tenancy.models import Organization
from dispatch import outgoing
from dispatch.enums import LocationSource
from dispatch.inputs import SosIn
from dispatch.locks import lock_active_incident, lock_elder_of_organization
from dispatch.models import Elder, Incident, SosRequest
from dispatch.opening import join_incident, open_incident
from dispatch.sos_input import Ignored
from dispatch.views import SosOut
from geo import repository as zones
from notifications.texts import render


class SosOutcome:
    CREATED = "created"
    JOINED = "joined"
    REPLAYED = "replayed"


@dataclass(frozen=True)
class SosResult:
    outcome: str
    body: SosOut


def request_fingerprint(payload: SosIn, ignored: tuple[Ignored, ...] = ()) -> str:
    """A hash of the request's meaning, so formatting differences do not count."""
    meaning = payload.model_dump(mode="json")
    if ignored:  # the same broken body resent is the same request
        meaning["ignored"] = sorted(i.field for i in ignored)
    canonical = json.dumps(meaning, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def receive_sos(
    session: AsyncSession,
    *,
    elder_id: uuid.UUID,
    idempotency_key: str | None,
    payload: SosIn,
    max_accuracy_m: float,
    limit_key: str,
    press_rate: Rate,
    ignored: tuple[Ignored, ...] = (),
) -> SosResult:
    """Open an incident for the elder, join the active one, or replay a retry.

    The elder's row is locked first, so concurrent presses from one phone are
    handled one after another: a retry finds the first one's record, a second
    press finds the incident the first opened.

    Rate: a retry (same Idempotency-Key) is never counted, and a press that opens
    an incident is never refused; presses that join the active incident beyond
    ``press_rate`` (counted per ``limit_key``, the device) are 429 and name the
    incident, which is being handled already.

    ``ignored`` names the parts of the body that were unusable and dropped
    (dispatch.sos_input); they are recorded on the incident's timeline.
    """
    locked = await lock_elder_of_organization(session, elder_id)
    if locked is None:
        raise NotFound("no such elder")
    elder, org = locked
    fingerprint = request_fingerprint(payload, ignored)
    dropped = [i.as_dict() for i in ignored]

    if idempotency_key is not None:
        seen = await session.scalar(
            select(SosRequest).where(
                SosRequest.elder_id == elder.id, SosRequest.idempotency_key == idempotency_key
            )
        )
        if seen is not None:
            if seen.request_hash != fingerprint:
                raise Conflict(
                    "this Idempotency-Key was already used for a different SOS request; "
                    "send a new key for a new request"
                )
            incident = await session.get(Incident, seen.incident_id)
            assert incident is not None
            body = await _sos_out(session, incident, elder, org, joined=False)
            return SosResult(SosOutcome.REPLAYED, body.model_copy(update={"ignored": dropped}))

    active = await lock_active_incident(session, elder.id)
    if active is not None:
        await _count_press(session, limit_key, press_rate, joining=active)
        await join_incident(
            session,
            active,
            trigger=payload.trigger,
            lat=payload.lat,
            lon=payload.lon,
            accuracy_m=payload.accuracy_m,
            captured_at=payload.captured_at,
            battery_pct=payload.battery_pct,
            has_idempotency_key=idempotency_key is not None,
            ignored=dropped,
        )
        outcome, incident = SosOutcome.JOINED, active
    else:
        await _count_press(session, limit_key, press_rate, joining=None)
        incident = await open_incident(
            session,
            elder=elder,
            trigger=payload.trigger,
            lat=payload.lat,
            lon=payload.lon,
            accuracy_m=payload.accuracy_m,
            source_if_given=LocationSource.GPS,
            max_accuracy_m=max_accuracy_m,
            captured_at=payload.captured_at,
            battery_pct=payload.battery_pct,
            ignored=dropped,
        )
        outcome = SosOutcome.CREATED
        await outgoing.family_moment(session, incident, "family_sos_opened", responder_id=None)
    log_context.concerning(incident.id)

    if idempotency_key is not None:
        session.add(
            SosRequest(
                elder_id=elder.id,
                idempotency_key=idempotency_key,
                request_hash=fingerprint,
                incident_id=incident.id,
            )
        )
        await session.flush()
    body = await _sos_out(session, incident, elder, org, joined=outcome == SosOutcome.JOINED)
    return SosResult(outcome, body.model_copy(update={"ignored": dropped}))


async def _count_press(
    session: AsyncSession, key: str, rate: Rate, *, joining: Incident | None
) -> None:
    try:
        await take(session, key, rate, what="SOS presses", force=joining is None)
    except TooManyRequests as limited:
        assert joining is not None
        raise TooManyRequests(
            f"{limited.detail}. Help is already being sent for incident {joining.id}.",
            retry_after_s=limited.retry_after_s,
            incident_id=joining.id,
        ) from None


async def _sos_out(
    session: AsyncSession, incident: Incident, elder: Elder, org: Organization, *, joined: bool
) -> SosOut:
    zone = await zones.zone_ref(session, incident.zone_id) if incident.zone_id else None
    if joined:
        key = "sos_already_active"
    elif zone is None:
        key = "sos_received_no_zone"
    else:
        key = "sos_received"
    return SosOut(
        incident_id=incident.id,
        state=incident.state,
        location_source=incident.location_source,
        zone=zone,
        fallback_phone=org.fallback_phone,
        created_at=incident.created_at,
        message=render(key, elder.language.value, fallback_phone=org.fallback_phone),
    )
