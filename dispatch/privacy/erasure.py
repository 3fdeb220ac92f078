"""Erasing an elder (PDPA right to erasure): their personal data goes everywhere.

Removed: the elder's record (name, phone, address, home, medical facts, contacts),
device tokens (their live sockets close at commit), push registrations, SOS
requests, messages about them or to them and their family, and the positions and
personal details in their incidents' timelines. Kept, anonymous: the incidents
themselves (no elder link, the SOS point snapped to a ~1 km grid, free-text notes
gone) so response-time statistics stay true, and the medical-access log (it holds no
medical data and is the record of who saw the data before).
"""

import uuid
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound
from core.events.models import IncidentEvent
from core.principal import Principal
from core.signals import REVOCATIONS_CHANNEL, device_key, notify
from dispatch.enums import AccessKind
from dispatch.locks import active_incident
from dispatch.medical_access import record_access
from dispatch.models import Elder, ElderDeviceToken, Incident, SosRequest
from dispatch.privacy.retention import purge_trails
from notifications.models import OutboxMessage, PushDevice

# The SOS point of an erased elder's incident is kept only to this grid (degrees: about
# 1.1 km at Thai latitudes), enough for maps by district, not to find a house.
COARSE_GRID_DEG = 0.01

# What an anonymous incident's timeline keeps: codes, ids of staff and offers, numbers.
# Anything else (positions, the escalation dossier, free text, the elder's id) goes.
KEPT_EVENT_KEYS = frozenset(
    {
        "trigger",
        "location_source",
        "location_updated",
        "zone",
        "battery_pct",
        "has_idempotency_key",
        "opened_by_user_id",
        "by_user_id",
        "offer_id",
        "responder_id",
        "previous_responder_id",
        "wave",
        "expires_at",
        "distance_m",
        "in_zone_team",
        "via",
        "fallback",
        "level",
        "to",
        "reason",
        "officer_id",
        "fallback_phone",
        "outcome",
        "by",
        "user_id",
        "accepted_at",
        "message_id",
        "kind",
        "route",
        "recipient_user_id",
        "attempts",
    }
)
# Keys kept elsewhere that are free text in these events.
DROPPED_BY_EVENT = {"incident.cancelled": frozenset({"reason"})}


def anonymous_event_data(name: str, data: dict[str, Any]) -> dict[str, Any]:
    dropped = DROPPED_BY_EVENT.get(name, frozenset())
    return {k: v for k, v in data.items() if k in KEPT_EVENT_KEYS and k not in dropped}


async def erase_elder(session: AsyncSession, *, elder_id: uuid.UUID, principal: Principal) -> None:
    """Erase the elder's personal data; refused while an incident of theirs is open.

    The elder's row is locked first, as SOS intake does, so no SOS can open an
    incident between the check and the erasure.
    """
    elder = await session.get(Elder, elder_id, with_for_update=True, populate_existing=True)
    if elder is None:
        raise NotFound("no such elder")
    active = await active_incident(session, elder.id)
    if active is not None:
        raise Conflict(
            "the elder has an open incident; resolve or cancel it before erasing the record",
            incident_id=str(active.id),
        )
    for token_id in await session.scalars(
        select(ElderDeviceToken.id).where(ElderDeviceToken.elder_id == elder.id)
    ):
        # Live sockets opened with it close at commit, on every server process.
        await notify(session, REVOCATIONS_CHANNEL, device_key(token_id))
    await session.execute(delete(ElderDeviceToken).where(ElderDeviceToken.elder_id == elder.id))
    await session.execute(delete(PushDevice).where(PushDevice.elder_id == elder.id))
    await session.execute(delete(SosRequest).where(SosRequest.elder_id == elder.id))

    incident_ids = list(
        await session.scalars(
            select(Incident.id)
            .where(Incident.elder_id == elder.id)
            .order_by(Incident.id)
            .with_for_update(key_share=True)
        )
    )
    await session.execute(
        delete(OutboxMessage).where(
            or_(
                OutboxMessage.incident_id.in_(incident_ids),
                OutboxMessage.recipient_elder_id == elder.id,
            )
        )
    )
    await purge_trails(session, incident_ids)
    events = await session.scalars(
        select(IncidentEvent).where(IncidentEvent.incident_id.in_(incident_ids))
    )
    for event in events:
        event.data = anonymous_event_data(event.name, event.data)
    await session.execute(
        update(Incident)
        .where(Incident.id.in_(incident_ids))
        .values(
            elder_id=None,
            location=func.ST_SnapToGrid(Incident.location, COARSE_GRID_DEG),
            accuracy_m=None,
            note=None,
            closing_note=None,
        )
        .execution_options(synchronize_session=False)
    )
    record_access(
        session,
        principal=principal,
        organization_id=elder.organization_id,
        elder_id=elder.id,
        what=AccessKind.ERASURE,
    )
    await session.delete(elder)
    await session.flush()
