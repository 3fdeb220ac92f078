"""Check-in plans: set, paused, their cycles scheduled as deadline rows, their status."""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import NotFound
from core.tenancy.models import Organization
from dispatch.checkins.inputs import CheckinPlanIn
from dispatch.checkins.models import CheckinPlan
from dispatch.checkins.schedule import Rules, next_due, window_opens
from dispatch.checkins.views import CheckinPlanOut, CheckinState, CheckinStatusOut, ElderCheckinOut
from dispatch.enums import ACTIVE_STATES, DeadlineKind
from dispatch.models import Deadline, Elder, Incident


def rules_of(plan: CheckinPlan, tz: str) -> Rules:
    return Rules(
        times=plan.times,
        inactivity_s=plan.inactivity_s,
        grace_s=plan.grace_s,
        window_s=plan.window_s,
        tz=tz,
    )


async def timezone_of(session: AsyncSession, organization_id: uuid.UUID) -> str:
    tz = await session.scalar(
        select(Organization.timezone).where(Organization.id == organization_id)
    )
    assert tz is not None
    return tz


def schedule_cycle(session: AsyncSession, plan: CheckinPlan, *, now: datetime) -> None:
    """The deadline rows of the plan's current cycle ``due_at``: the reminders (before
    and at it), the family at the end of the grace period, the incident after that."""
    due = plan.due_at
    grace = due + timedelta(seconds=plan.grace_s)
    moments = [
        (DeadlineKind.CHECKIN_REMINDER, due - timedelta(seconds=plan.reminder_before_s)),
        (DeadlineKind.CHECKIN_REMINDER, due),
        (DeadlineKind.CHECKIN_MISSED, grace),
        (DeadlineKind.CHECKIN_ESCALATE, grace + timedelta(seconds=plan.family_wait_s)),
    ]
    seen = set()
    for kind, at in moments:
        if (kind, at) in seen or (kind is DeadlineKind.CHECKIN_REMINDER and at < now):
            continue
        seen.add((kind, at))
        session.add(
            Deadline(
                organization_id=plan.organization_id,
                elder_id=plan.elder_id,
                cycle_at=due,
                kind=kind,
                due_at=at,
            )
        )


def first_due(rules: Rules, *, now: datetime, paused_until: datetime | None) -> datetime:
    """A new or changed plan (or a pause) starts with the first deadline after now, or
    after the pause."""
    start = max(now, paused_until) if paused_until is not None else now
    return next_due(rules, start)


async def save_plan(
    session: AsyncSession, elder: Elder, data: CheckinPlanIn, *, now: datetime
) -> CheckinPlan:
    """Set (or replace) the elder's plan; the caller holds the elder's row lock. The
    cycle starts afresh: deadlines of the old one find ``due_at`` moved and do nothing."""
    assert data.family_wait_s is not None
    plan = await session.get(CheckinPlan, elder.id, with_for_update=True)
    if plan is None:
        plan = CheckinPlan(elder_id=elder.id, organization_id=elder.organization_id)
        session.add(plan)
    plan.times = data.times
    plan.inactivity_s = data.inactivity_s
    plan.grace_s, plan.family_wait_s = data.grace_s, data.family_wait_s
    plan.window_s, plan.reminder_before_s = data.window_s, data.reminder_before_s
    plan.tell_family_on_checkin = data.tell_family_on_checkin
    plan.paused_until = data.paused_until
    rules = rules_of(plan, await timezone_of(session, elder.organization_id))
    plan.due_at = first_due(rules, now=now, paused_until=data.paused_until)
    plan.stage = "waiting"
    schedule_cycle(session, plan, now=now)
    await session.flush()
    return plan


async def get_plan(session: AsyncSession, elder_id: uuid.UUID) -> CheckinPlan:
    plan = await session.get(CheckinPlan, elder_id)
    if plan is None:
        raise NotFound("this elder has no check-in plan")
    return plan


def status_of(
    plan: CheckinPlan, rules: Rules, *, now: datetime, incident_active: bool
) -> CheckinStatusOut:
    opens = window_opens(rules, plan.due_at)
    grace_until = plan.due_at + timedelta(seconds=plan.grace_s)
    missed = plan.stage == "family_told" or (plan.missed_at is not None and incident_active)
    if plan.paused_until is not None and plan.paused_until > now and not missed:
        state = CheckinState.PAUSED
    elif missed:
        state = CheckinState.MISSED
    elif now >= (opens or plan.due_at - timedelta(seconds=plan.reminder_before_s)):
        state = CheckinState.DUE
    else:
        state = CheckinState.OK
    return CheckinStatusOut(
        state=state,
        due_at=plan.due_at,
        window_opens_at=opens,
        grace_until=grace_until,
        late=state is not CheckinState.PAUSED and now > plan.due_at,
        paused_until=plan.paused_until if plan.paused_until and plan.paused_until > now else None,
        last_checkin_at=plan.last_checkin_at,
        incident_id=plan.incident_id if plan.missed_at is not None and incident_active else None,
    )


async def _incident_active(session: AsyncSession, plan: CheckinPlan) -> bool:
    if plan.incident_id is None:
        return False
    state = await session.scalar(select(Incident.state).where(Incident.id == plan.incident_id))
    return state in ACTIVE_STATES


async def status(session: AsyncSession, plan: CheckinPlan, *, now: datetime) -> CheckinStatusOut:
    rules = rules_of(plan, await timezone_of(session, plan.organization_id))
    return status_of(plan, rules, now=now, incident_active=await _incident_active(session, plan))


async def plan_out(session: AsyncSession, plan: CheckinPlan, *, now: datetime) -> CheckinPlanOut:
    return CheckinPlanOut(
        elder_id=plan.elder_id,
        times=[t.strftime("%H:%M") for t in plan.times],
        inactivity_s=plan.inactivity_s,
        grace_s=plan.grace_s,
        family_wait_s=plan.family_wait_s,
        window_s=plan.window_s,
        reminder_before_s=plan.reminder_before_s,
        tell_family_on_checkin=plan.tell_family_on_checkin,
        paused_until=plan.paused_until,
        status=await status(session, plan, now=now),
    )


async def org_statuses(
    session: AsyncSession, organization_id: uuid.UUID, *, now: datetime
) -> list[ElderCheckinOut]:
    """Every elder of the organization with a plan, missed first, then due (one query)."""
    tz = await timezone_of(session, organization_id)
    rows = await session.execute(
        select(CheckinPlan, Elder.name, Incident.state)
        .join(Elder, Elder.id == CheckinPlan.elder_id)
        .outerjoin(Incident, Incident.id == CheckinPlan.incident_id)
        .where(CheckinPlan.organization_id == organization_id)
        .order_by(Elder.name)
    )
    out = [
        ElderCheckinOut(
            elder_id=plan.elder_id,
            elder_name=name,
            status=status_of(
                plan, rules_of(plan, tz), now=now, incident_active=state in ACTIVE_STATES
            ),
        )
        for plan, name, state in rows
    ]
    order = [CheckinState.MISSED, CheckinState.DUE, CheckinState.PAUSED, CheckinState.OK]
    return sorted(out, key=lambda e: order.index(e.status.state))
