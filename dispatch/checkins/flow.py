"""Check-ins as they arrive, and the deadlines of a cycle: reminders, the family, then
an incident with trigger ``checkin_missed`` through the normal dispatch.

Locks, in the order every command takes them: the elder's row, the plan's row, then
the incident's (``lock_active_incident``). The worker holds a deadline row first;
nothing else locks deadline rows, so no cycle can form.
"""

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, NotFound
from core.events.catalogue import EventName
from core.events.log import record_event
from core.tenancy.models import Organization
from dispatch import outgoing
from dispatch.checkins.models import Checkin, CheckinPlan
from dispatch.checkins.plans import rules_of, schedule_cycle, status, timezone_of
from dispatch.checkins.schedule import Rules, Verdict, following, judge, local_hhmm, next_due
from dispatch.checkins.views import CheckinOut
from dispatch.enums import ACTIVE_STATES, DeadlineKind, LocationSource, Trigger
from dispatch.locks import lock_active_incident, lock_elder
from dispatch.models import Deadline, Elder, Incident
from dispatch.opening import join_incident, open_incident


def utcnow() -> datetime:
    """The server's clock (tests replace it to run days of cycles in seconds)."""
    return datetime.now(UTC)


async def _locked(session: AsyncSession, elder_id: uuid.UUID) -> tuple[Elder, CheckinPlan | None]:
    elder = await lock_elder(session, elder_id)
    if elder is None:
        raise NotFound("no such elder")
    return elder, await session.get(CheckinPlan, elder.id, with_for_update=True)


async def check_in(
    session: AsyncSession,
    *,
    elder_id: uuid.UUID,
    captured_at: datetime | None,
    by_user_id: uuid.UUID | None,
    idempotency_key: str | None,
    now: datetime,
) -> CheckinOut:
    """Store a check-in and judge it by when it was pressed (``captured_at``, never
    later than its arrival: a phone clock running fast does not make it late)."""
    elder, plan = await _locked(session, elder_id)
    if plan is None:
        raise Conflict("this elder has no check-in plan")
    if idempotency_key is not None:
        earlier = await session.scalar(
            select(Checkin).where(
                Checkin.elder_id == elder.id, Checkin.idempotency_key == idempotency_key
            )
        )
        if earlier is not None:  # the phone's retry of one it already sent
            return await _out(session, plan, earlier, now=now)
    at = min(captured_at or now, now)
    row = Checkin(
        organization_id=elder.organization_id,
        elder_id=elder.id,
        captured_at=at,
        received_at=now,
        by_user_id=by_user_id,
        idempotency_key=idempotency_key,
    )
    tz = await timezone_of(session, elder.organization_id)
    row.verdict, row.cycle_at = await _sign_of_life(
        session, elder, plan, rules_of(plan, tz), at, by_user_id=by_user_id, now=now, tell=True
    )
    session.add(row)
    await session.flush()
    return await _out(session, plan, row, now=now)


async def activity(
    session: AsyncSession, *, elder_id: uuid.UUID, captured_at: datetime | None, now: datetime
) -> None:
    """The phone was used: with an inactivity timer, that resets it (no check-in row)."""
    elder, plan = await _locked(session, elder_id)
    if plan is None:
        return
    at = min(captured_at or now, now)
    if plan.last_activity_at is None or at > plan.last_activity_at:
        plan.last_activity_at = at
    if plan.inactivity_s is not None:
        tz = await timezone_of(session, elder.organization_id)
        rules = rules_of(plan, tz)
        await _sign_of_life(session, elder, plan, rules, at, by_user_id=None, now=now, tell=False)


async def _sign_of_life(
    session: AsyncSession,
    elder: Elder,
    plan: CheckinPlan,
    rules: Rules,
    at: datetime,
    *,
    by_user_id: uuid.UUID | None,
    now: datetime,
    tell: bool,
) -> tuple[Verdict, datetime | None]:
    """Settle the cycle the sign of life counts for, if any: (verdict, that deadline)."""
    if plan.last_checkin_at is not None and at <= plan.last_checkin_at:
        return Verdict.EARLY, None  # older than one already counted: nothing to settle
    verdict = judge(rules, plan.due_at, at)
    if verdict is Verdict.EARLY:
        missed = plan.missed_at
        if missed is None or judge(rules, missed, at) is Verdict.EARLY:
            return verdict, None
        # A late arrival for the cycle that became an incident: the elder is well.
        verdict = judge(rules, missed, at)
        await _after_missed(session, elder, plan, rules, at, verdict, by_user_id=by_user_id)
        plan.last_checkin_at = at
        return verdict, missed
    cycle = plan.due_at
    if plan.stage == "family_told" or plan.missed_at is not None:
        await _after_missed(session, elder, plan, rules, at, verdict, by_user_id=by_user_id)
    elif tell and plan.tell_family_on_checkin:
        values = {"elder": elder.name, "at": local_hhmm(at, rules.tz)}
        await outgoing.family_alerted(session, elder, template="checkin_done", values=values)
    plan.last_checkin_at = at
    plan.stage = "waiting"
    plan.due_at = following(rules, plan.due_at, at)
    schedule_cycle(session, plan, now=now)
    return verdict, cycle


async def _after_missed(
    session: AsyncSession,
    elder: Elder,
    plan: CheckinPlan,
    rules: Rules,
    at: datetime,
    verdict: Verdict,
    *,
    by_user_id: uuid.UUID | None,
) -> None:
    """The family heard of a missed check-in: tell them it came; and put it on the
    incident it opened, for the officers and the responder on the way."""
    values = {"elder": elder.name, "at": local_hhmm(at, rules.tz)}
    await outgoing.family_alerted(session, elder, template="checkin_after_all", values=values)
    if plan.missed_at is not None and plan.incident_id is not None:
        incident = await lock_active_incident(session, elder.id)
        if incident is not None and incident.id == plan.incident_id:
            record_event(
                session,
                organization_id=incident.organization_id,
                incident_id=incident.id,
                name=EventName.CHECKIN_RECEIVED,
                data={
                    "captured_at": at.isoformat(),
                    "verdict": verdict.value,
                    "due_at": plan.missed_at.isoformat(),
                    "by_user_id": str(by_user_id) if by_user_id else None,
                },
            )
    plan.missed_at = None


async def _out(
    session: AsyncSession, plan: CheckinPlan, row: Checkin, *, now: datetime
) -> CheckinOut:
    return CheckinOut(
        id=row.id,
        captured_at=row.captured_at,
        verdict=Verdict(row.verdict),
        counted_for=row.cycle_at,
        status=await status(session, plan, now=now),
    )


async def deadline_fired(session: AsyncSession, deadline: Deadline, *, now: datetime) -> None:
    """A check-in deadline; a no-op unless its cycle is still the plan's current one."""
    assert deadline.elder_id is not None
    elder, plan = await _locked(session, deadline.elder_id)
    if plan is None or plan.due_at != deadline.cycle_at:
        return
    if plan.paused_until is not None and plan.paused_until > deadline.due_at:
        return
    tz = await timezone_of(session, elder.organization_id)
    if deadline.kind is DeadlineKind.CHECKIN_REMINDER and plan.stage == "waiting":
        outgoing.elder_reminded(session, elder, due=local_hhmm(plan.due_at, tz))
    elif deadline.kind is DeadlineKind.CHECKIN_MISSED and plan.stage == "waiting":
        plan.stage = "family_told"
        await _family_told(session, elder, plan, tz)
    elif deadline.kind is DeadlineKind.CHECKIN_ESCALATE and plan.stage == "family_told":
        await _escalate(session, elder, plan, rules_of(plan, tz), now=now)


async def _family_told(session: AsyncSession, elder: Elder, plan: CheckinPlan, tz: str) -> None:
    org = await session.get(Organization, elder.organization_id)
    assert org is not None
    values = {
        "elder": elder.name,
        "due": local_hhmm(plan.due_at, tz),
        "fallback_phone": org.fallback_phone,
    }
    await outgoing.family_alerted(session, elder, template="checkin_missed_family", values=values)
    # One more, urgent, to the elder's phone: "are you all right? check in now".
    outgoing.elder_reminded(session, elder, due=values["due"], urgent=True)


async def _escalate(
    session: AsyncSession, elder: Elder, plan: CheckinPlan, rules: Rules, *, now: datetime
) -> None:
    """An incident at home (or the one under way, joined), then the next cycle."""
    incident: Incident | None = await lock_active_incident(session, elder.id)
    note = f"check-in missed: due {local_hhmm(plan.due_at, rules.tz)}"
    if incident is not None and incident.state in ACTIVE_STATES:
        await join_incident(
            session, incident, trigger=Trigger.CHECKIN_MISSED, lat=None, lon=None, accuracy_m=None
        )
    else:
        incident = await open_incident(
            session,
            elder=elder,
            trigger=Trigger.CHECKIN_MISSED,
            lat=None,
            lon=None,
            accuracy_m=None,
            source_if_given=LocationSource.HOME,
            max_accuracy_m=0.0,
            note=note,
        )
    plan.missed_at, plan.incident_id = plan.due_at, incident.id
    plan.stage = "waiting"
    plan.due_at = next_due(rules, max(plan.due_at, now))
    schedule_cycle(session, plan, now=now)
