"""An incident as its viewer may see it, and the organization's and a responder's lists.

A list is one statement whatever its length: the elder's and the zone's names are
joined, never looked up per row.
"""

import uuid
from datetime import datetime

from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.events.catalogue import EventName
from core.events.log import incident_timeline
from core.principal import Principal
from core.tenancy.models import Organization, User
from dispatch.elders import elder_home
from dispatch.enums import AccessKind, IncidentState, OfferState
from dispatch.inputs import Contact
from dispatch.medical_access import record_access
from dispatch.models import Elder, Incident, Offer, Responder
from dispatch.responders import last_location_out
from dispatch.views import (
    ElderInIncident,
    ElderMedical,
    EventOut,
    IncidentOut,
    IncidentSummary,
    OfferForResponder,
    OfferOut,
    PointOut,
    ResponderBrief,
    TrailPoint,
)
from dispatch.visibility import LOCATION_EVENTS, Viewer, event_view, sees_medical
from geo.models import CareZone
from geo.schemas import ZoneRef


def _point(incident: Incident) -> PointOut:
    pt = to_shape(incident.location)
    return PointOut(lat=pt.y, lon=pt.x)


def _offer_out(offer: Offer) -> OfferOut:
    return OfferOut(
        id=offer.id,
        responder_id=offer.responder_id,
        wave=offer.wave,
        state=offer.state,
        distance_m=offer.distance_m,
        sent_at=offer.sent_at,
        expires_at=offer.expires_at,
        received_at=offer.received_at,
    )


async def _responder_brief(
    session: AsyncSession, responder_id: uuid.UUID, *, with_location: bool
) -> ResponderBrief | None:
    row = (
        await session.execute(
            select(Responder, User)
            .join(User, User.id == Responder.id)
            .where(Responder.id == responder_id)
        )
    ).one_or_none()
    if row is None:
        return None
    responder, user = row
    location = last_location_out(responder) if with_location else None
    return ResponderBrief(
        id=responder.id, name=user.name, phone=user.phone, kind=responder.kind, location=location
    )


async def incident_view(
    session: AsyncSession,
    incident: Incident,
    *,
    viewer: Viewer,
    principal: Principal,
    access: AccessKind | None = AccessKind.INCIDENT,
) -> IncidentOut:
    """The incident as this viewer may see it: medical details and others' offers filtered.

    When the view carries the elder's medical details, the read is logged as ``access``
    (None: the caller logs it, e.g. once for a whole export).
    """
    elder = await session.get(Elder, incident.elder_id) if incident.elder_id else None
    org = await session.get(Organization, incident.organization_id)
    assert org is not None
    offers = list(
        await session.scalars(
            select(Offer).where(Offer.incident_id == incident.id).order_by(Offer.sent_at, Offer.id)
        )
    )
    if viewer is Viewer.ELDER:
        offers = []
    elif viewer is not Viewer.OFFICER:
        offers = [o for o in offers if o.responder_id == principal.user_id]
    events = []
    for event in await incident_timeline(session, incident.id):
        data = event_view(viewer, principal, event.name, event.data)
        if data is not None:
            events.append(
                EventOut(
                    id=event.id,
                    event=event.name,
                    incident_id=event.incident_id,
                    at=event.created_at,
                    data=data,
                )
            )
    medical = None
    if elder is not None and sees_medical(viewer, incident.state):
        if access is not None:
            record_access(
                session,
                principal=principal,
                organization_id=incident.organization_id,
                elder_id=elder.id,
                incident_id=incident.id,
                what=access,
            )
        medical = ElderMedical(
            conditions=elder.conditions,
            medications=elder.medications,
            allergies=elder.allergies,
            blood_type=elder.blood_type,
            contacts=[Contact.model_validate(c) for c in elder.contacts],
        )
    zone = (
        await session.scalar(select(CareZone.name).where(CareZone.id == incident.zone_id))
        if incident.zone_id
        else None
    )
    summary = _summary(incident, elder.name if elder else None, _zone(incident.zone_id, zone))
    return IncidentOut(
        **summary.model_dump(),
        organization_id=incident.organization_id,
        wave=incident.wave,
        accuracy_m=incident.accuracy_m,
        battery_pct=incident.battery_pct,
        note=incident.note if viewer is Viewer.OFFICER else None,
        fallback_phone=org.fallback_phone,
        elder=ElderInIncident(
            id=elder.id,
            name=elder.name,
            dependency_group=elder.dependency_group,
            language=elder.language,
            home=elder_home(elder),
            medical=medical,
        )
        if elder is not None
        else None,
        responder=(
            await _responder_brief(
                session,
                incident.assigned_responder_id,
                # Their position follows responder.location's rule: not for the merely offered.
                with_location=event_view(
                    viewer,
                    principal,
                    EventName.RESPONDER_LOCATION,
                    {"responder_id": str(incident.assigned_responder_id)},
                )
                is not None,
            )
            if incident.assigned_responder_id
            else None
        ),
        offers=[_offer_out(o) for o in offers],
        events=events,
        trail=[_trail_point(e) for e in events if e.event in LOCATION_EVENTS],
    )


def _trail_point(event: EventOut) -> TrailPoint:
    data = event.data
    is_responder = event.event == "responder.location"
    return TrailPoint(
        source="responder" if is_responder else "elder",
        responder_id=data.get("responder_id") if is_responder else None,
        lat=data["lat"],
        lon=data["lon"],
        accuracy_m=data.get("accuracy_m"),
        recorded_at=data["recorded_at"],
        eta_s=data.get("eta_s"),
    )


def _zone(zone_id: uuid.UUID | None, name: str | None) -> ZoneRef | None:
    return ZoneRef(id=zone_id, name=name) if zone_id is not None and name is not None else None


def _summary(incident: Incident, elder_name: str | None, zone: ZoneRef | None) -> IncidentSummary:
    return IncidentSummary(
        id=incident.id,
        state=incident.state,
        escalation_level=incident.escalation_level,
        trigger=incident.trigger,
        location=_point(incident),
        location_source=incident.location_source,
        zone=zone,
        elder_id=incident.elder_id,
        elder_name=elder_name,
        assigned_responder_id=incident.assigned_responder_id,
        created_at=incident.created_at,
        accepted_at=incident.accepted_at,
        on_scene_at=incident.on_scene_at,
        closed_at=incident.closed_at,
        outcome=incident.outcome,
    )


async def list_incidents(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    state: IncidentState | None,
    zone_id: uuid.UUID | None,
    since: datetime | None,
    limit: int,
) -> list[IncidentSummary]:
    stmt = (
        select(Incident, Elder.name, CareZone.name)
        # An erased elder's incidents stay (anonymous) in the list.
        .outerjoin(Elder, Elder.id == Incident.elder_id)
        .outerjoin(CareZone, CareZone.id == Incident.zone_id)
        .where(Incident.organization_id == organization_id)
        .order_by(Incident.created_at.desc(), Incident.id)
        .limit(limit)
    )
    if state is not None:
        stmt = stmt.where(Incident.state == state)
    if zone_id is not None:
        stmt = stmt.where(Incident.zone_id == zone_id)
    if since is not None:
        stmt = stmt.where(Incident.created_at >= since)
    rows = (await session.execute(stmt)).all()
    return [
        _summary(incident, elder_name, _zone(incident.zone_id, zone_name))
        for incident, elder_name, zone_name in rows
    ]


async def offers_for_responder(
    session: AsyncSession, responder_id: uuid.UUID
) -> list[OfferForResponder]:
    """The responder's open offers (pending, or expired while still unassigned)."""
    rows = await session.execute(
        select(Offer, Incident, Elder, CareZone.name)
        .join(Incident, Incident.id == Offer.incident_id)
        .join(Elder, Elder.id == Incident.elder_id)
        .outerjoin(CareZone, CareZone.id == Incident.zone_id)
        .where(
            Offer.responder_id == responder_id,
            Offer.state.in_([OfferState.PENDING, OfferState.EXPIRED]),
            Incident.state == IncidentState.DISPATCHING,
        )
        .order_by(Offer.sent_at.desc())
    )
    return [
        OfferForResponder(
            offer=_offer_out(offer),
            incident_id=incident.id,
            incident_state=incident.state,
            trigger=incident.trigger,
            location=_point(incident),
            accuracy_m=incident.accuracy_m,
            zone=_zone(incident.zone_id, zone_name),
            elder_name=elder.name,
            dependency_group=elder.dependency_group,
        )
        for offer, incident, elder, zone_name in rows
    ]
