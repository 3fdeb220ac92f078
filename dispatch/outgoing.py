"""The messages dispatch sends: built as plain objects, queued in the outbox in the
transaction of the state change that causes them."""

import uuid

from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.tenancy.models import Organization, Role, User
from dispatch.locations import DEFAULT_ETA_SPEED_KMH, distance_to_incident, eta_seconds
from dispatch.models import Elder, Incident, Offer, Responder
from geo import repository as zones
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


async def help_coming(session: AsyncSession, incident: Incident, responder_id: uuid.UUID) -> None:
    """Tell the elder's phone, and the family by SMS, who is coming."""
    elder = await session.get(Elder, incident.elder_id)
    org = await session.get(Organization, incident.organization_id)
    user = await session.get(User, responder_id)
    responder = await session.get(Responder, responder_id)
    assert elder is not None and org is not None and user is not None and responder is not None
    eta = "?"
    if responder.last_location is not None:
        here = to_shape(responder.last_location)
        metres = await distance_to_incident(session, incident, here.y, here.x)
        eta = str(max(1, round(eta_seconds(metres, DEFAULT_ETA_SPEED_KMH) / 60)))
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
    for contact in elder.contacts:
        enqueue(
            session,
            Message(
                organization_id=incident.organization_id,
                kind="help_coming_family",
                route=Route.SMS,
                recipient=Recipient(phone=contact["phone"]),
                template="help_coming_family",
                language=elder.language.value,
                values=values,
                incident_id=incident.id,
            ),
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
            kind="escalation",
            template="escalation_officers",
            values={"elder": elder.name, "zone": zone.name if zone else "-", "level": str(level)},
            ttl_s=3600,
            urgent=True,
        )
