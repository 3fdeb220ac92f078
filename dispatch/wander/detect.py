"""Fixes from the elder's phone outside incidents: stored, judged per safe zone, and a
wander alert raised when the state machine says so (dispatch/wander/machine.py)."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.events.catalogue import EventName
from core.events.log import record_event
from core.tenancy.models import Organization
from dispatch import outgoing
from dispatch.enums import LocationSource, Trigger
from dispatch.locks import lock_active_incident, lock_elder
from dispatch.models import Elder, Incident
from dispatch.opening import join_incident, open_incident
from dispatch.wander.geometry import fix_fractions
from dispatch.wander.inputs import FixIn
from dispatch.wander.machine import Fix, FixVerdict, Thresholds, Tracker, WanderState, step
from dispatch.wander.models import ElderPosition, SafeZone, WanderTracker
from dispatch.wander.views import PositionsOut
from dispatch.wander.zones import is_active, state_out, thresholds_of, zones_of


def utcnow() -> datetime:
    """The server's clock (tests replace it to run a simulated day in seconds)."""
    return datetime.now(UTC)


@dataclass
class _Zone:
    zone: SafeZone
    area: str  # GeoJSON
    row: WanderTracker
    tracker: Tracker
    t: Thresholds


def _load(row: WanderTracker) -> Tracker:
    return Tracker(
        state=WanderState(row.state),
        judged=WanderState(row.judged),
        last_fix_at=row.last_fix_at,
        left_at=row.left_at,
        outside_fixes=row.outside_fixes,
    )


def _store(row: WanderTracker, tr: Tracker) -> None:
    row.state, row.judged = tr.state.value, tr.judged.value
    row.last_fix_at, row.left_at, row.outside_fixes = tr.last_fix_at, tr.left_at, tr.outside_fixes


async def receive_positions(
    session: AsyncSession, *, elder_id: uuid.UUID, fixes: list[FixIn], max_accuracy_m: float
) -> PositionsOut:
    """Store the fixes and run each zone's machine over them in ``captured_at`` order."""
    elder = await lock_elder(session, elder_id)  # one batch of an elder at a time
    if elder is None:
        raise NotFound("no such elder")
    org = await session.get(Organization, elder.organization_id)
    assert org is not None
    received_at = utcnow()
    ordered = sorted(fixes, key=lambda f: f.captured_at)
    await session.execute(
        insert(ElderPosition),
        [
            {
                "elder_id": elder.id,
                "captured_at": f.captured_at,
                "received_at": received_at,
                "lat": f.lat,
                "lon": f.lon,
                "accuracy_m": f.accuracy_m,
            }
            for f in ordered
        ],
    )
    zones = []
    for zone in await zones_of(session, elder.id):
        row = await session.get(WanderTracker, zone.id, with_for_update=True)
        if row is None:
            row = WanderTracker(zone_id=zone.id, state="inside", judged="inside", outside_fixes=0)
            session.add(row)
        area = str(
            await session.scalar(
                select(func.ST_AsGeoJSON(SafeZone.area)).where(SafeZone.id == zone.id)
            )
        )
        zones.append(_Zone(zone, area, row, _load(row), thresholds_of(zone)))

    late, incident_id = 0, None
    for f in ordered:
        for z in zones:
            if z.tracker.last_fix_at is not None and f.captured_at <= z.tracker.last_fix_at:
                late += 1
                continue
            if not is_active(z.zone, f.captured_at, org.timezone):
                # Outside active hours nothing is judged and an excursion ends.
                z.tracker = Tracker(last_fix_at=f.captured_at)
                continue
            shares = await fix_fractions(
                session,
                lat=f.lat,
                lon=f.lon,
                accuracy_m=f.accuracy_m,
                zone_geojson=z.area,
                leave_m=z.t.leave_margin_m,
                enter_m=z.t.enter_margin_m,
            )
            fix = Fix(f.captured_at, f.accuracy_m, shares.outside, shares.inside)
            result = step(z.tracker, fix, z.t, received_at=received_at)
            z.tracker = result.tracker
            if result.alert:
                incident = await _alert(
                    session, elder, z, f, tz=org.timezone, max_accuracy_m=max_accuracy_m
                )
                z.row.incident_id = incident_id = incident.id
            elif result.returned or result.verdict is FixVerdict.INSIDE:
                z.row.incident_id = None
    for z in zones:
        _store(z.row, z.tracker)
    await session.flush()
    return PositionsOut(
        accepted=len(ordered),
        ignored_late=late,
        zones={z.zone.id: state_out(z.zone, z.row, received_at) for z in zones},
        incident_id=incident_id,
    )


async def _alert(
    session: AsyncSession, elder: Elder, z: _Zone, f: FixIn, *, tz: str, max_accuracy_m: float
) -> Incident:
    """Family and officers at once, and an incident at the last good fix with the track
    since leaving on its timeline (``elder.location`` events: the map's trail)."""
    assert z.tracker.left_at is not None
    track = await session.scalars(
        select(ElderPosition)
        .where(
            ElderPosition.elder_id == elder.id,
            ElderPosition.captured_at >= z.tracker.left_at,
            ElderPosition.captured_at <= f.captured_at,
            ElderPosition.accuracy_m <= z.t.max_accuracy_m,
        )
        .order_by(ElderPosition.captured_at)
    )
    note = f"wander: left safe zone {z.zone.name}"
    incident = await lock_active_incident(session, elder.id)
    if incident is not None:
        await join_incident(
            session,
            incident,
            trigger=Trigger.WANDER,
            lat=f.lat,
            lon=f.lon,
            accuracy_m=f.accuracy_m,
            captured_at=f.captured_at,
        )
    else:
        incident = await open_incident(
            session,
            elder=elder,
            trigger=Trigger.WANDER,
            lat=f.lat,
            lon=f.lon,
            accuracy_m=f.accuracy_m,
            source_if_given=LocationSource.GPS,
            max_accuracy_m=max_accuracy_m,
            captured_at=f.captured_at,
            note=note,
        )
    for p in track:
        record_event(
            session,
            organization_id=incident.organization_id,
            incident_id=incident.id,
            name=EventName.ELDER_LOCATION,
            data={
                "lat": p.lat,
                "lon": p.lon,
                "accuracy_m": p.accuracy_m,
                "recorded_at": p.captured_at.isoformat(),
            },
        )
    values = {
        "elder": elder.name,
        "zone": z.zone.name,
        "since": z.tracker.left_at.astimezone(ZoneInfo(tz)).strftime("%H:%M"),
    }
    await outgoing.family_alerted(
        session, elder, template="wander_family", values=values, incident=incident
    )
    await outgoing.officers_told(
        session, incident, kind="wander", template="wander_officers", values=values
    )
    return incident
