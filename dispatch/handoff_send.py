"""Sending the 1669 hand-off record: the facts gathered from the database, the record
built (dispatch.handoff_record), queued for the organization's centre in the outbox
in the transaction of its cause, logged as a medical disclosure and on the timeline.

The first version goes with the level-2 escalation; each later change of a handed-off
incident (responder accepted or arrived, resolved, cancelled, the elder's new
position) queues the next version. Without a configured centre nothing is queued:
the hand-off stays the timeline dossier and the fallback phone.
"""

import uuid
from datetime import UTC, datetime
from typing import Any

from geoalchemy2.shape import to_shape
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.events.catalogue import EventName
from core.events.models import IncidentEvent
from core.principal import Principal, PrincipalKind
from core.tenancy.models import Organization, User
from dispatch.enums import AccessKind, EscalationLevel
from dispatch.handoff_record import (
    HandoffFacts,
    OnScene,
    Person,
    Position,
    Staff,
    build_record,
)
from dispatch.incident_log import record
from dispatch.medical_access import record_access
from dispatch.models import Elder, Incident, Responder
from geo import repository as zones
from notifications.messages import Route
from notifications.models import HandoffEndpoint, OutboxMessage
from notifications.outbox import enqueue_document

TRAIL_POINTS = 20


async def handed_off(
    session: AsyncSession, incident: Incident, *, officer_id: uuid.UUID | None
) -> None:
    """The incident was just handed to the fallback (by ``officer_id``, or by the
    officers' timeout): version 1 to the centre."""
    await _send(session, incident, cause="handed_off", officer_id=officer_id)


async def changed(
    session: AsyncSession,
    incident: Incident,
    *,
    cause: str,
    elder_at: tuple[float, float, float | None, datetime] | None = None,
) -> None:
    """A handed-off incident changed: the next version to the centre (no-op before).
    ``elder_at`` (lat, lon, accuracy, when): the elder's position just reported (its
    event is written at commit, after this)."""
    if incident.escalation_level < EscalationLevel.FALLBACK:
        return
    latest = Position(*elder_at[:3], "elder_device", elder_at[3]) if elder_at else None
    officer_id = await handing_officer(session, incident.id)
    await _send(session, incident, cause=cause, officer_id=officer_id, latest=latest)


async def _send(
    session: AsyncSession,
    incident: Incident,
    *,
    cause: str,
    officer_id: uuid.UUID | None,
    latest: Position | None = None,
) -> None:
    endpoint = await session.get(HandoffEndpoint, incident.organization_id)
    if endpoint is None:
        return
    version = 1 + (
        await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.incident_id == incident.id,
                OutboxMessage.route == Route.HANDOFF.value,
            )
        )
        or 0
    )
    facts = await gather_facts(
        session, incident, version=version, cause=cause, officer_id=officer_id, latest=latest
    )
    row = enqueue_document(
        session,
        organization_id=incident.organization_id,
        incident_id=incident.id,
        kind="handoff",
        document=build_record(facts),
        version=version,
    )
    await session.flush()
    record(
        session,
        incident,
        EventName.HANDOFF_SENT,
        message_id=str(row.id),
        version=version,
        cause=cause,
    )
    log_disclosure(session, incident, officer_id=facts.officer.id if facts.officer else None)


def log_disclosure(
    session: AsyncSession, incident: Incident, *, officer_id: uuid.UUID | None
) -> None:
    """The medical-access row of a hand-off: the officer who handed it over, or (handed
    over by the officers' timeout, or viewed by someone else) the given officer or none."""
    if incident.elder_id is None:
        return
    record_access(
        session,
        principal=Principal(
            kind=PrincipalKind.OFFICER,
            organization_id=incident.organization_id,
            user_id=officer_id,
        ),
        organization_id=incident.organization_id,
        elder_id=incident.elder_id,
        incident_id=incident.id,
        what=AccessKind.HANDOFF,
    )


async def handing_officer(session: AsyncSession, incident_id: uuid.UUID) -> uuid.UUID | None:
    """The officer who handed the incident to 1669 (None: the officers' timeout did)."""
    data = await session.scalar(
        select(IncidentEvent.data)
        .where(
            IncidentEvent.incident_id == incident_id,
            IncidentEvent.name == EventName.INCIDENT_ESCALATED,
            IncidentEvent.data["level"].as_integer() == EscalationLevel.FALLBACK,
        )
        .order_by(IncidentEvent.id)
        .limit(1)
    )
    officer = (data or {}).get("officer_id")
    return uuid.UUID(officer) if officer else None


async def _staff(session: AsyncSession, user_id: uuid.UUID | None) -> Staff | None:
    user = await session.get(User, user_id) if user_id else None
    return Staff(id=user.id, name=user.name, phone=user.phone) if user else None


async def gather_facts(
    session: AsyncSession,
    incident: Incident,
    *,
    version: int,
    cause: str,
    officer_id: uuid.UUID | None,
    latest: Position | None = None,
) -> HandoffFacts:
    now = datetime.now(UTC)
    org = await session.get(Organization, incident.organization_id)
    assert org is not None
    elder = await session.get(Elder, incident.elder_id) if incident.elder_id else None
    zone = await zones.zone_ref(session, incident.zone_id) if incident.zone_id else None
    point = to_shape(incident.location)
    trail = await _trail(session, incident.id) + ([latest] if latest else [])
    position = Position(
        lat=point.y,
        lon=point.x,
        accuracy_m=incident.accuracy_m,
        source=incident.location_source.value,
        at=incident.captured_at or incident.created_at,
    )
    if trail and trail[-1].at > position.at:
        position = trail[-1]
    person = home = None
    if elder is not None:
        home_point = to_shape(elder.home)
        home = Position(home_point.y, home_point.x, None, "registered_home", elder.updated_at)
        person = Person(
            id=elder.id,
            name=elder.name,
            phone=elder.phone,
            address=elder.address,
            dependency_group=elder.dependency_group,
            conditions=list(elder.conditions),
            medications=list(elder.medications),
            allergies=list(elder.allergies),
            blood_type=elder.blood_type,
            language=elder.language.value,
            contacts=list(elder.contacts),
            updated_at=elder.updated_at,
        )
    return HandoffFacts(
        incident_id=incident.id,
        version=version,
        cause=cause,
        state=incident.state.value,
        trigger=incident.trigger.value,
        opened_at=incident.created_at,
        handed_off_at=incident.escalated_at or now,
        closed_at=incident.closed_at,
        outcome=incident.outcome,
        now=now,
        organization_code=org.code,
        organization_name=org.name,
        fallback_phone=org.fallback_phone,
        zone=zone.name if zone else None,
        battery_pct=incident.battery_pct,
        officer=await _staff(session, officer_id),
        person=person,
        position=position,
        home=home,
        trail=trail,
        responder=await _on_scene(session, incident),
    )


async def _trail(session: AsyncSession, incident_id: uuid.UUID) -> list[Position]:
    rows = await session.scalars(
        select(IncidentEvent.data)
        .where(
            IncidentEvent.incident_id == incident_id,
            IncidentEvent.name == EventName.ELDER_LOCATION,
        )
        .order_by(IncidentEvent.id.desc())
        .limit(TRAIL_POINTS)
    )
    return [_position(data) for data in reversed(list(rows))]


def _position(data: dict[str, Any]) -> Position:
    return Position(
        lat=data["lat"],
        lon=data["lon"],
        accuracy_m=data.get("accuracy_m"),
        source="elder_device",
        at=datetime.fromisoformat(data["recorded_at"]),
    )


async def _on_scene(session: AsyncSession, incident: Incident) -> OnScene | None:
    staff = await _staff(session, incident.assigned_responder_id)
    if staff is None:
        return None
    responder = await session.get(Responder, staff.id)
    position = None
    if responder is not None and responder.last_location is not None:
        at = responder.last_location_at or datetime.now(UTC)
        p = to_shape(responder.last_location)
        position = Position(p.y, p.x, responder.last_location_accuracy_m, "responder_device", at)
    return OnScene(
        staff=staff,
        state=incident.state.value,
        accepted_at=incident.accepted_at,
        on_scene_at=incident.on_scene_at,
        position=position,
    )
