"""Taking an SOS from an elder's phone: exactly one incident, however often it is sent."""

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound
from core.events.log import NewEvent, append_events
from core.tenancy.models import Organization
from dispatch.elders import elder_home
from dispatch.enums import ACTIVE_STATES, IncidentState, LocationSource
from dispatch.models import Elder, Incident, SosRequest
from dispatch.schemas import SosIn, SosOut
from geo import repository as zones
from geo.points import point_wkt
from geo.schemas import ZoneMatch
from notifications.texts import render


class SosOutcome:
    CREATED = "created"
    JOINED = "joined"
    REPLAYED = "replayed"


@dataclass(frozen=True)
class SosResult:
    outcome: str
    body: SosOut


def request_fingerprint(payload: SosIn) -> str:
    """A hash of the request's meaning, so formatting differences do not count."""
    canonical = json.dumps(payload.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def receive_sos(
    session: AsyncSession,
    *,
    elder_id: uuid.UUID,
    idempotency_key: str | None,
    payload: SosIn,
    max_accuracy_m: float,
) -> SosResult:
    """Open an incident for the elder, join the active one, or replay a retry.

    The elder's row is locked first, so concurrent presses from one phone are
    handled one after another: a retry finds the first one's record, a second
    press finds the incident the first opened.
    """
    elder = await session.get(Elder, elder_id, with_for_update=True)
    if elder is None:
        raise NotFound("no such elder")
    org = await session.get(Organization, elder.organization_id)
    assert org is not None
    fingerprint = request_fingerprint(payload)

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
            return SosResult(
                SosOutcome.REPLAYED, await _sos_out(session, incident, elder, org, joined=False)
            )

    active = await session.scalar(
        select(Incident).where(Incident.elder_id == elder.id, Incident.state.in_(ACTIVE_STATES))
    )
    if active is not None:
        events = await _join(session, active, payload, idempotency_key)
        outcome, incident = SosOutcome.JOINED, active
    else:
        incident, events = await _open(session, elder, org, payload, max_accuracy_m=max_accuracy_m)
        outcome = SosOutcome.CREATED

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
    # Last, so the organization's event counter stays locked only until commit.
    await append_events(session, org.id, events)
    return SosResult(outcome, body)


async def _open(
    session: AsyncSession,
    elder: Elder,
    org: Organization,
    payload: SosIn,
    *,
    max_accuracy_m: float,
) -> tuple[Incident, list[NewEvent]]:
    if payload.lat is not None and payload.lon is not None:
        lat, lon, source, accuracy = (
            payload.lat,
            payload.lon,
            LocationSource.GPS,
            payload.accuracy_m,
        )
    else:
        home = elder_home(elder)
        lat, lon, source, accuracy = home.lat, home.lon, LocationSource.HOME, None

    matches = await zones.match_zones(
        session, org.id, lat=lat, lon=lon, accuracy_m=min(accuracy or 0.0, max_accuracy_m), limit=1
    )
    zone: ZoneMatch | None = matches[0] if matches else None
    incident = Incident(
        id=uuid.uuid4(),
        organization_id=org.id,
        elder_id=elder.id,
        zone_id=zone.id if zone else None,
        state=IncidentState.DISPATCHING,
        # Outside every zone there is no team to offer it to: officers first.
        escalation_level=0 if zone else 1,
        trigger=payload.trigger,
        location=point_wkt(lon, lat),
        accuracy_m=accuracy,
        location_source=source,
        captured_at=payload.captured_at,
        battery_pct=payload.battery_pct,
    )
    session.add(incident)
    await session.flush()
    await session.refresh(incident)
    events = [
        NewEvent(
            incident.id,
            "incident.opened",
            {
                "elder_id": str(elder.id),
                "trigger": payload.trigger.value,
                "location": {"lat": lat, "lon": lon},
                "accuracy_m": accuracy,
                "location_source": source.value,
                "zone": {"id": str(zone.id), "name": zone.name, "covers": zone.covers}
                if zone
                else None,
                "battery_pct": payload.battery_pct,
            },
        )
    ]
    if zone is None:
        escalation = {"level": 1, "reason": "outside_zones", "to": "officers"}
        events.append(NewEvent(incident.id, "incident.escalated", escalation))
    return incident, events


async def _join(
    session: AsyncSession, incident: Incident, payload: SosIn, idempotency_key: str | None
) -> list[NewEvent]:
    """A new press while help is already under way: note it, and keep the best fix."""
    better_fix = (
        payload.lat is not None
        and payload.lon is not None
        and (
            incident.location_source is not LocationSource.GPS
            or (
                payload.accuracy_m is not None
                and (incident.accuracy_m is None or payload.accuracy_m < incident.accuracy_m)
            )
        )
    )
    if better_fix:
        assert payload.lat is not None and payload.lon is not None
        incident.location = point_wkt(payload.lon, payload.lat)  # type: ignore[assignment]
        incident.accuracy_m = payload.accuracy_m
        incident.location_source = LocationSource.GPS
        incident.captured_at = payload.captured_at or datetime.now(UTC)
    await session.flush()
    joined = NewEvent(
        incident.id,
        "incident.joined",
        {
            "trigger": payload.trigger.value,
            "location": {"lat": payload.lat, "lon": payload.lon}
            if payload.lat is not None
            else None,
            "accuracy_m": payload.accuracy_m,
            "location_updated": better_fix,
            "battery_pct": payload.battery_pct,
            "has_idempotency_key": idempotency_key is not None,
        },
    )
    return [joined]


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
