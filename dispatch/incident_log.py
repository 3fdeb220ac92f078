"""What a step of an incident writes beside its state change: an event on the
incident's timeline, and deadlines for the worker. Both join the caller's
transaction, so they commit with the change or not at all."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.events.catalogue import EventName
from core.events.log import record_event
from dispatch.enums import DeadlineKind
from dispatch.models import Deadline, Incident


def record(session: AsyncSession, incident: Incident, name: EventName, **data: Any) -> None:
    record_event(
        session,
        organization_id=incident.organization_id,
        incident_id=incident.id,
        name=name,
        data=data,
    )


def schedule(
    session: AsyncSession,
    incident: Incident,
    kind: DeadlineKind,
    due_at: datetime,
    *,
    offer_id: uuid.UUID | None = None,
    responder_id: uuid.UUID | None = None,
) -> None:
    session.add(
        Deadline(
            organization_id=incident.organization_id,
            incident_id=incident.id,
            kind=kind,
            due_at=due_at,
            offer_id=offer_id,
            responder_id=responder_id,
        )
    )
