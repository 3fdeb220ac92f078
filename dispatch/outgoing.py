"""The messages dispatch sends: built as plain objects, queued in the outbox in the
transaction of the state change that causes them."""

import uuid
from typing import Any

from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.tenancy.models import Organization, Role, User
from dispatch.eta import distance_to_incident, eta_minutes
from dispatch.models import Elder, Incident, Offer, Responder
from geo import repository as zones
from notifications.family import FamilyNews, tell_family
from notifications.messages import Message, Recipient, Route
from notifications.outbox import enqueue


def _distance_text(metres: float | None) -> str:
    if metres is None:
        return "?"
    return f"{metres / 1000:.1f} km" if metres >= 1000 else f"{round(metres)} m"


async def _elder(session: AsyncSession, incident: Incident) -> Elder:
    elder = await session.get(Elder, incident.elder_id)
    assert elder is not None
    return elder


def _push_to_user(
    session: AsyncSession,
    incident: Incident,
    user_id: uuid.UUID,
    *,
    kind: str,
    template: str,
    values: dict[str, str],
    offer_id: uuid.UUID | None = None,
    ttl_s: int = 3600,
    urgent: bool = False,
) -> None:
    """A push about ``incident`` to a staff member's phones."""
    enqueue(
        session,
        Message(
            organization_id=incident.organization_id,
            kind=kind,
            route=Route.PUSH,
            recipient=Recipient(user_id=user_id),
            template=template,
            values=values,
            incident_id=incident.id,
            offer_id=offer_id,
            ttl_s=ttl_s,
            urgent=urgent,
        ),
    )


async def offer_made(
    session: AsyncSession, incident: Incident, offer: Offer, timeout_s: int
) -> None:
    elder = await _elder(session, incident)
    _push_to_user(
        session,
        incident,
        offer.responder_id,
        kind="offer",
        template="offer",
        values={
            "elder": elder.name,
            "distance": _distance_text(offer.distance_m),
            "timeout": str(timeout_s),
        },
        offer_id=offer.id,
        ttl_s=timeout_s,
        urgent=True,
    )


async def offer_by_sms(session: AsyncSession, incident: Incident, offer: Offer) -> None:
    """No receipt from the phone in time: the same offer by SMS to the responder's number."""
    elder = await _elder(session, incident)
    enqueue(
        session,
        Message(
            organization_id=incident.organization_id,
            kind="offer_sms",
            route=Route.SMS,
            recipient=Recipient(user_id=offer.responder_id),
            template="offer_sms",
            values={
                "elder": elder.name,
                "distance": _distance_text(offer.distance_m),
                "link": f"phikat://incidents/{incident.id}",
            },
            incident_id=incident.id,
            offer_id=offer.id,
        ),
    )


async def offer_withdrawn(session: AsyncSession, incident: Incident, offer: Offer) -> None:
    elder = await _elder(session, incident)
    _push_to_user(
        session,
        incident,
        offer.responder_id,
        kind="offer_withdrawn",
        template="offer_withdrawn",
        values={"elder": elder.name},
        offer_id=offer.id,
        ttl_s=600,
    )


async def help_coming(
    session: AsyncSession, incident: Incident, responder_id: uuid.UUID, *, speed_kmh: float
) -> None:
    """Tell the elder's phone, and the family (LINE or SMS), who is coming and when."""
    elder = await session.get(Elder, incident.elder_id)
    org = await session.get(Organization, incident.organization_id)
    user = await session.get(User, responder_id)
    responder = await session.get(Responder, responder_id)
    assert elder is not None and org is not None and user is not None and responder is not None
    eta = "?"
    if responder.last_location is not None:
        here = to_shape(responder.last_location)
        metres = await distance_to_incident(session, incident, here.y, here.x)
        eta = str(eta_minutes(metres, speed_kmh))
    values = {
        "responder": user.name,
        "eta": eta,
        "elder": elder.name,
        "fallback_phone": org.fallback_phone,
    }
    enqueue(
        session,
        Message(
            organization_id=incident.organization_id,
            kind="help_coming",
            route=Route.PUSH,
            recipient=Recipient(elder_id=elder.id),
            template="help_coming",
            language=elder.language.value,
            values=values,
            incident_id=incident.id,
            ttl_s=1800,
        ),
    )
    await family_alerted(
        session, elder, template="help_coming_family", values=values, incident=incident
    )


async def assigned_to_you(
    session: AsyncSession, incident: Incident, responder_id: uuid.UUID
) -> None:
    """An officer dispatched this responder by hand: wake their phone as an offer would."""
    elder = await _elder(session, incident)
    responder = await session.get(Responder, responder_id)
    metres = None
    if responder is not None and responder.last_location is not None:
        here = to_shape(responder.last_location)
        metres = await distance_to_incident(session, incident, here.y, here.x)
    _push_to_user(
        session,
        incident,
        responder_id,
        kind="assigned",
        template="assigned_to_you",
        values={"elder": elder.name, "distance": _distance_text(metres)},
        ttl_s=1800,
        urgent=True,
    )


async def stand_down(
    session: AsyncSession, incident: Incident, responder_id: uuid.UUID, *, why: str
) -> None:
    """Tell the responder on the way that they are no longer needed: the incident was
    cancelled or resolved by someone else (``why``), or given to another responder."""
    elder = await _elder(session, incident)
    _push_to_user(
        session,
        incident,
        responder_id,
        kind="stand_down",
        template=f"stand_down_{why}",
        values={"elder": elder.name},
        ttl_s=1800,
    )


async def officers_alerted(session: AsyncSession, incident: Incident, level: int) -> None:
    elder = await _elder(session, incident)
    zone = await zones.zone_ref(session, incident.zone_id) if incident.zone_id else None
    await officers_told(
        session,
        incident,
        kind="escalation",
        template="escalation_officers",
        values={"elder": elder.name, "zone": zone.name if zone else "-", "level": str(level)},
    )


async def handoff_rejected(session: AsyncSession, incident: Incident, *, reason: str) -> None:
    """The 1669 centre refused the hand-off: every officer at once, urgent."""
    elder = await _elder(session, incident)
    zone = await zones.zone_ref(session, incident.zone_id) if incident.zone_id else None
    await officers_told(
        session,
        incident,
        kind="handoff_rejected",
        template="handoff_rejected",
        values={"elder": elder.name, "zone": zone.name if zone else "-", "reason": reason},
    )


def elder_reminded(session: AsyncSession, elder: Elder, *, due: str, urgent: bool = False) -> None:
    """A check-in reminder to the elder's phones (dispatch/checkins)."""
    enqueue(
        session,
        Message(
            organization_id=elder.organization_id,
            kind="checkin_reminder",
            route=Route.PUSH,
            recipient=Recipient(elder_id=elder.id),
            template="checkin_reminder",
            language=elder.language.value,
            values={"due": due},
            ttl_s=3600,
            urgent=urgent,
        ),
    )


async def family_alerted(
    session: AsyncSession,
    elder: Elder,
    *,
    template: str,
    values: dict[str, str],
    incident: Incident | None = None,
) -> None:
    """Tell the elder's family (every contact), in the elder's language, by LINE or SMS
    as each contact chose (``notifications.family``): one outbox message per contact and
    route, in the caller's transaction.

    The one family fan-out: SOS moments, check-ins and wander alerts call it. LINE's
    card shows ``values["zone"]`` or else the incident's care zone, and a map link to
    the incident's point (the elder's home without an incident).
    """
    zone = values.get("zone")
    if incident is not None and zone is None and incident.zone_id is not None:
        ref = await zones.zone_ref(session, incident.zone_id)
        zone = ref.name if ref else None
    lat, lon = _lat_lon(incident.location if incident is not None else elder.home)
    news = FamilyNews(
        organization_id=elder.organization_id,
        elder_id=elder.id,
        elder_name=elder.name,
        language=elder.language.value,
        contacts=elder.contacts,
        template=template,
        values=values,
        incident_id=incident.id if incident else None,
        zone=zone,
        lat=lat,
        lon=lon,
    )
    await tell_family(session, news)


async def family_moment(
    session: AsyncSession, incident: Incident, template: str, *, responder_id: uuid.UUID | None
) -> None:
    """A moment of the incident told to the family: opened, on scene, resolved,
    cancelled, handed to 1669 (``family_*`` texts: elder, responder, fallback phone)."""
    if incident.elder_id is None:
        return
    elder = await _elder(session, incident)
    org = await session.get(Organization, incident.organization_id)
    user = await session.get(User, responder_id) if responder_id else None
    values = {
        "elder": elder.name,
        "responder": user.name if user else "-",
        "fallback_phone": org.fallback_phone if org else "1669",
    }
    await family_alerted(session, elder, template=template, values=values, incident=incident)


def _lat_lon(point: Any) -> tuple[float | None, float | None]:
    if point is None:
        return None, None
    if isinstance(point, str):  # not yet read back: "SRID=4326;POINT(lon lat)"
        lon, lat = point.split("POINT(")[1].rstrip(")").split()
        return float(lat), float(lon)
    shape = to_shape(point)
    return shape.y, shape.x


async def officers_told(
    session: AsyncSession, incident: Incident, *, kind: str, template: str, values: dict[str, str]
) -> None:
    """An urgent push to every officer of the incident's organization (e.g. a wander alert)."""
    officers = await session.scalars(
        select(User.id).where(
            User.organization_id == incident.organization_id,
            User.role == Role.OFFICER,
            User.disabled_at.is_(None),
        )
    )
    for officer_id in officers:
        _push_to_user(
            session,
            incident,
            officer_id,
            kind=kind,
            template=template,
            values=values,
            ttl_s=3600,
            urgent=True,
        )
