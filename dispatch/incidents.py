"""Opening incidents (from an SOS or by staff), joining them, and reading them back."""

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime

from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.events.catalogue import EventName
from core.events.log import incident_timeline, record_event
from core.principal import Principal
from core.tenancy.models import Organization, User
from dispatch import engine
from dispatch.elders import elder_home
from dispatch.enums import (
    ACTIVE_STATES,
    AccessKind,
    IncidentState,
    LocationSource,
    OfferState,
    Trigger,
)
from dispatch.locks import lock_elder, lock_incident
from dispatch.models import Elder, Incident, Offer, Responder
from dispatch.policies import get_policy
from dispatch.privacy.medical_access import record_access
from dispatch.responders import last_location_out
from dispatch.schemas import (
    Contact,
    ElderInIncident,
    ElderMedical,
    EventOut,
    IncidentCreate,
    IncidentOut,
    IncidentSummary,
    OfferForResponder,
    OfferOut,
    PointOut,
    ResponderBrief,
    TrailPoint,
)
from dispatch.visibility import (
    LOCATION_EVENTS,
    IncidentFacts,
    Viewer,
    event_view,
    sees_medical,
)
from geo import repository as zones
from geo.points import point_wkt
from geo.schemas import ZoneMatch


async def active_incident(session: AsyncSession, elder_id: uuid.UUID) -> Incident | None:
    return await session.scalar(
        select(Incident).where(Incident.elder_id == elder_id, Incident.state.in_(ACTIVE_STATES))
    )


async def lock_active_incident(session: AsyncSession, elder_id: uuid.UUID) -> Incident | None:
    """The elder's active incident, locked; the caller holds the elder's lock.

    An officer may close the incident between the read and the lock (closing does not
    take the elder's lock): then there is no active incident, and the press must open
    a new one rather than join a closed one. No other can open meanwhile: opening
    takes the elder's lock, which the caller holds.
    """
    active = await active_incident(session, elder_id)
    if active is None:
        return None
    locked = await lock_incident(session, active.id)
    return locked if locked.state in ACTIVE_STATES else None


async def open_incident(
    session: AsyncSession,
    *,
    elder: Elder,
    trigger: Trigger,
    lat: float | None,
    lon: float | None,
    accuracy_m: float | None,
    source_if_given: LocationSource,
    max_accuracy_m: float,
    captured_at: datetime | None = None,
    battery_pct: int | None = None,
    note: str | None = None,
    opened_by_user_id: uuid.UUID | None = None,
    ignored: list[dict[str, str]] | None = None,
) -> Incident:
    """Store a new incident, match its zone and start dispatching it, in one transaction.

    The caller must hold the elder's row lock and have checked there is no
    active incident.
    """
    if lat is not None and lon is not None:
        source = source_if_given
    else:
        home = elder_home(elder)
        lat, lon, source, accuracy_m = home.lat, home.lon, LocationSource.HOME, None
    matches = await zones.match_zones(
        session,
        elder.organization_id,
        lat=lat,
        lon=lon,
        accuracy_m=min(accuracy_m or 0.0, max_accuracy_m),
        limit=1,
    )
    zone: ZoneMatch | None = matches[0] if matches else None
    incident = Incident(
        id=uuid.uuid4(),
        organization_id=elder.organization_id,
        elder_id=elder.id,
        zone_id=zone.id if zone else None,
        state=IncidentState.DISPATCHING,
        escalation_level=0,
        wave=0,
        trigger=trigger,
        location=point_wkt(lon, lat),
        accuracy_m=accuracy_m,
        location_source=source,
        captured_at=captured_at,
        battery_pct=battery_pct,
        note=note,
        opened_by_user_id=opened_by_user_id,
    )
    session.add(incident)
    await session.flush()
    await session.refresh(incident)
    record_event(
        session,
        organization_id=incident.organization_id,
        incident_id=incident.id,
        name=EventName.INCIDENT_OPENED,
        data={
            "elder_id": str(elder.id),
            "trigger": trigger.value,
            "location": {"lat": lat, "lon": lon},
            "accuracy_m": accuracy_m,
            "location_source": source.value,
            "zone": {"id": str(zone.id), "name": zone.name, "covers": zone.covers}
            if zone
            else None,
            "battery_pct": battery_pct,
            "opened_by_user_id": str(opened_by_user_id) if opened_by_user_id else None,
            **({"ignored": ignored} if ignored else {}),
        },
    )
    policy = await get_policy(session, incident.organization_id)
    await engine.start_dispatch(session, incident, policy)
    await session.flush()
    return incident


async def join_incident(
    session: AsyncSession,
    incident: Incident,
    *,
    trigger: Trigger,
    lat: float | None,
    lon: float | None,
    accuracy_m: float | None,
    source: LocationSource = LocationSource.GPS,
    captured_at: datetime | None = None,
    battery_pct: int | None = None,
    by_user_id: uuid.UUID | None = None,
    has_idempotency_key: bool = False,
    ignored: list[dict[str, str]] | None = None,
) -> None:
    """A new press (or a staff report) while help is under way: note it, keep the best fix.

    The caller holds the elder's lock and the incident's (``lock_active_incident``)."""
    better_fix = (
        lat is not None and lon is not None and _is_better_fix(incident, source, accuracy_m)
    )
    if better_fix:
        assert lat is not None and lon is not None
        incident.location = point_wkt(lon, lat)  # type: ignore[assignment]
        incident.accuracy_m = accuracy_m
        incident.location_source = source
        incident.captured_at = captured_at or datetime.now(UTC)
    await session.flush()
    record_event(
        session,
        organization_id=incident.organization_id,
        incident_id=incident.id,
        name=EventName.INCIDENT_JOINED,
        data={
            "trigger": trigger.value,
            "location": {"lat": lat, "lon": lon} if lat is not None else None,
            "accuracy_m": accuracy_m,
            "location_updated": better_fix,
            "battery_pct": battery_pct,
            "by_user_id": str(by_user_id) if by_user_id else None,
            "has_idempotency_key": has_idempotency_key,
            **({"ignored": ignored} if ignored else {}),
        },
    )


def _is_better_fix(incident: Incident, source: LocationSource, accuracy_m: float | None) -> bool:
    """Any position beats the home address; GPS beats a typed-in one; a GPS fix beats
    another only when it is more accurate."""
    current = incident.location_source
    if current is LocationSource.HOME:
        return True
    if source is not LocationSource.GPS:
        return False
    if current is not LocationSource.GPS:
        return True
    return accuracy_m is not None and (
        incident.accuracy_m is None or accuracy_m < incident.accuracy_m
    )


async def open_on_behalf(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    data: IncidentCreate,
    user_id: uuid.UUID,
    max_accuracy_m: float,
) -> tuple[Incident, bool]:
    """Staff open an incident for an elder (a phone call, a neighbour at the door).

    Returns the incident and whether it was created (False: it joined the active one).
    """
    elder = await session.get(Elder, data.elder_id)
    if elder is None or elder.organization_id != organization_id:
        raise NotFound("no such elder in this organization")
    elder = await lock_elder(session, elder.id)
    if elder is None:  # erased meanwhile
        raise NotFound("no such elder in this organization")
    active = await lock_active_incident(session, elder.id)
    if active is not None:
        await join_incident(
            session,
            active,
            trigger=Trigger.STAFF,
            lat=data.lat,
            lon=data.lon,
            accuracy_m=None,
            source=LocationSource.REPORTED,
            by_user_id=user_id,
        )
        return active, False
    incident = await open_incident(
        session,
        elder=elder,
        trigger=Trigger.STAFF,
        lat=data.lat,
        lon=data.lon,
        accuracy_m=None,
        source_if_given=LocationSource.REPORTED,
        max_accuracy_m=max_accuracy_m,
        note=data.note,
        opened_by_user_id=user_id,
    )
    return incident, True


# --- reading --------------------------------------------------------------------


async def get_incident(session: AsyncSession, incident_id: uuid.UUID) -> Incident:
    incident = await session.get(Incident, incident_id)
    if incident is None:
        raise NotFound("no such incident")
    return incident


async def incident_facts(session: AsyncSession, incident: Incident) -> IncidentFacts:
    return (await load_facts(session, [incident.id]))[incident.id]


async def load_facts(
    session: AsyncSession, incident_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, IncidentFacts]:
    """Who may see each of these incidents: two queries, whatever their number."""
    ids = set(incident_ids)
    if not ids:
        return {}
    offered: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
    for incident_id, responder_id in await session.execute(
        select(Offer.incident_id, Offer.responder_id).where(Offer.incident_id.in_(ids))
    ):
        offered[incident_id].add(responder_id)
    rows = await session.execute(
        select(
            Incident.id,
            Incident.organization_id,
            Incident.elder_id,
            Incident.state,
            Incident.assigned_responder_id,
        ).where(Incident.id.in_(ids))
    )
    return {
        row.id: IncidentFacts(
            organization_id=row.organization_id,
            elder_id=row.elder_id,
            state=row.state,
            assigned_responder_id=row.assigned_responder_id,
            offered_responder_ids=frozenset(offered[row.id]),
        )
        for row in rows
    }


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
    summary = await _summary(session, incident, elder.name if elder else None)
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


async def _summary(
    session: AsyncSession, incident: Incident, elder_name: str | None
) -> IncidentSummary:
    return IncidentSummary(
        id=incident.id,
        state=incident.state,
        escalation_level=incident.escalation_level,
        trigger=incident.trigger,
        location=_point(incident),
        location_source=incident.location_source,
        zone=await zones.zone_ref(session, incident.zone_id) if incident.zone_id else None,
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
        select(Incident, Elder.name)
        # An erased elder's incidents stay (anonymous) in the list.
        .outerjoin(Elder, Elder.id == Incident.elder_id)
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
    return [await _summary(session, incident, name) for incident, name in rows]


async def offers_for_responder(
    session: AsyncSession, responder_id: uuid.UUID
) -> list[OfferForResponder]:
    """The responder's open offers (pending, or expired while still unassigned)."""
    rows = await session.execute(
        select(Offer, Incident, Elder)
        .join(Incident, Incident.id == Offer.incident_id)
        .join(Elder, Elder.id == Incident.elder_id)
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
            zone=await zones.zone_ref(session, incident.zone_id) if incident.zone_id else None,
            elder_name=elder.name,
            dependency_group=elder.dependency_group,
        )
        for offer, incident, elder in rows
    ]
