"""Opening incidents (from an SOS or by staff) and joining the active one.

The callers hold the elder's row lock (``lock_elder``), so one elder never has two
active incidents, and ``lock_active_incident`` for a join.
"""

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.events.catalogue import EventName
from core.events.log import record_event
from dispatch import outgoing
from dispatch.elders import elder_home
from dispatch.enums import IncidentState, LocationSource, Trigger
from dispatch.inputs import IncidentCreate
from dispatch.locks import lock_active_incident, lock_elder
from dispatch.models import Elder, Incident
from dispatch.offers import start_dispatch
from geo import repository as zones
from geo.points import point_element, point_wkt
from geo.schemas import ZoneMatch


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
    if zone is not None:
        zones.remember_zone_name(session, zone.id, zone.name)
    incident = Incident(
        id=uuid.uuid4(),
        organization_id=elder.organization_id,
        elder_id=elder.id,
        zone_id=zone.id if zone else None,
        state=IncidentState.DISPATCHING,
        escalation_level=0,
        # In a zone, wave 1 opens in this transaction (offers.start_dispatch).
        wave=1 if zone else 0,
        trigger=trigger,
        location=point_element(lon, lat),
        accuracy_m=accuracy_m,
        location_source=source,
        captured_at=captured_at,
        battery_pct=battery_pct,
        note=note,
        opened_by_user_id=opened_by_user_id,
    )
    session.add(incident)
    await session.flush()
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
    await start_dispatch(session, incident)
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
    await outgoing.family_moment(session, incident, "family_sos_opened", responder_id=None)
    return incident, True
