"""The 1669 centre's answers to a hand-off, in the APCO/CSAA ASAP lifecycle: accepted,
rejected (with a reason), dispatched, arrived, closed (with a disposition).

Each answer is stored once (the centre's answer id is unique per incident, so a
callback sent twice is one answer), written on the timeline as ``handoff.answered``
(officers only), and a rejection alerts every officer at once (urgent push).
"""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field, model_validator
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound
from core.events.catalogue import EventName
from core.inputs import InputModel
from dispatch import outgoing
from dispatch.enums import EscalationLevel
from dispatch.handoff_models import HandoffAnswer, HandoffStatus
from dispatch.incident_log import record
from dispatch.locks import lock_incident
from dispatch.models import Incident

Text = Annotated[str, Field(min_length=1, max_length=500)]


class HandoffAnswerIn(InputModel):
    """One answer of the centre (the body of its signed callback)."""

    incident_id: uuid.UUID
    answer_id: Annotated[str, Field(min_length=1, max_length=100)]
    status: HandoffStatus
    reason: Text | None = None
    disposition: Text | None = None
    reference: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    answered_at: datetime

    @model_validator(mode="after")
    def _reason_for_rejection(self) -> "HandoffAnswerIn":
        if self.status is HandoffStatus.REJECTED and not self.reason:
            raise ValueError("a rejection needs a reason")
        return self


async def record_answer(
    session: AsyncSession, *, organization_id: uuid.UUID, answer: HandoffAnswerIn
) -> bool:
    """Store the answer; True if it is new, False if the centre sent it before."""
    exists = await session.scalar(
        select(Incident.id).where(
            Incident.id == answer.incident_id, Incident.organization_id == organization_id
        )
    )
    if exists is None:
        raise NotFound("no such incident")
    incident = await lock_incident(session, answer.incident_id)
    if incident.escalation_level < EscalationLevel.FALLBACK:
        raise Conflict("the incident was not handed to 1669")
    inserted = await session.scalar(
        insert(HandoffAnswer)
        .values(
            id=uuid.uuid4(),
            organization_id=organization_id,
            incident_id=incident.id,
            answer_id=answer.answer_id,
            status=answer.status,
            reason=answer.reason,
            disposition=answer.disposition,
            reference=answer.reference,
            answered_at=answer.answered_at,
        )
        .on_conflict_do_nothing(index_elements=["incident_id", "answer_id"])
        .returning(HandoffAnswer.id)
    )
    if inserted is None:
        return False
    record(
        session,
        incident,
        EventName.HANDOFF_ANSWERED,
        answer_id=answer.answer_id,
        status=answer.status.value,
        reason=answer.reason,
        disposition=answer.disposition,
        reference=answer.reference,
        answered_at=answer.answered_at.isoformat(),
    )
    if answer.status is HandoffStatus.REJECTED:
        await outgoing.handoff_rejected(session, incident, reason=answer.reason or "-")
    return True


async def latest_status(session: AsyncSession, incident_id: uuid.UUID) -> HandoffAnswer | None:
    """The centre's latest answer about the incident."""
    return await session.scalar(
        select(HandoffAnswer)
        .where(HandoffAnswer.incident_id == incident_id)
        .order_by(HandoffAnswer.answered_at.desc(), HandoffAnswer.received_at.desc())
        .limit(1)
    )
