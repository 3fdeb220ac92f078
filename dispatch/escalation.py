"""Escalation: to the officers when the waves found nobody, then to the fallback (1669)
when no officer took the incident in time, or at once when an officer hands it on."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.events.catalogue import EventName
from dispatch import handoff_send, outgoing
from dispatch.enums import ACTIVE_STATES, DeadlineKind, EscalationLevel, IncidentState
from dispatch.handoff import build_dossier
from dispatch.incident_log import record, schedule
from dispatch.locks import lock_incident
from dispatch.models import Incident
from dispatch.policy_document import DispatchPolicy
from dispatch.state_machine import IllegalTransition


async def escalate_to_officers(
    session: AsyncSession, incident: Incident, policy: DispatchPolicy, *, reason: str
) -> None:
    """Level 1: every officer of the organization is alerted; the fallback follows
    after the policy's officer timeout unless someone takes the incident."""
    if incident.escalation_level >= EscalationLevel.OFFICERS:
        return
    now = datetime.now(UTC)
    incident.escalation_level = EscalationLevel.OFFICERS
    incident.escalated_at = now
    record(session, incident, EventName.INCIDENT_ESCALATED, level=1, to="officers", reason=reason)
    await outgoing.officers_alerted(session, incident, level=1)
    schedule(
        session,
        incident,
        DeadlineKind.OFFICER_TIMEOUT,
        now + timedelta(seconds=policy.officer_timeout_s),
    )


async def officer_timeout(session: AsyncSession, *, incident_id: uuid.UUID) -> None:
    """Deadline: nobody took the incident after the officers were called."""
    incident = await lock_incident(session, incident_id)
    if incident.state is not IncidentState.DISPATCHING:
        return
    if incident.escalation_level != EscalationLevel.OFFICERS:
        return
    await _hand_off(session, incident, reason="officers_timeout")


async def escalate_now(
    session: AsyncSession, *, incident_id: uuid.UUID, officer_id: uuid.UUID
) -> Incident:
    """An officer hands the incident to the fallback (1669) at once."""
    incident = await lock_incident(session, incident_id)
    if incident.state not in ACTIVE_STATES:
        raise IllegalTransition(f"the incident is {incident.state.value}")
    if incident.escalation_level < EscalationLevel.FALLBACK:
        await _hand_off(session, incident, reason="officer", officer_id=officer_id)
    return incident


async def _hand_off(
    session: AsyncSession, incident: Incident, *, reason: str, officer_id: uuid.UUID | None = None
) -> None:
    incident.escalation_level = EscalationLevel.FALLBACK
    incident.escalated_at = datetime.now(UTC)
    dossier = await build_dossier(session, incident)
    record(
        session,
        incident,
        EventName.INCIDENT_ESCALATED,
        level=2,
        to="fallback",
        reason=reason,
        officer_id=str(officer_id) if officer_id else None,
        fallback_phone=dossier.fallback_phone,
        handoff=dossier.model_dump(mode="json"),
    )
    await handoff_send.handed_off(session, incident, officer_id=officer_id)
    await outgoing.family_moment(session, incident, "family_handed_1669", responder_id=None)
    await outgoing.officers_alerted(session, incident, level=2)
