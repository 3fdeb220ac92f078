"""Everything held on one elder, in one document (PDPA right of access)."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.principal import Principal
from dispatch.checkins.models import Checkin, CheckinPlan
from dispatch.checkins.plans import plan_out
from dispatch.elders import elder_out
from dispatch.enums import AccessKind
from dispatch.medical_access import access_log, record_access
from dispatch.models import Elder, ElderDeviceToken, Incident, SosRequest
from dispatch.privacy.schemas import (
    CheckinRecord,
    DeviceTokenRecord,
    ElderExport,
    MessageRecord,
    PositionRecord,
    PushDeviceRecord,
    SosRequestRecord,
)
from dispatch.queries.incidents import incident_view
from dispatch.visibility import Viewer
from dispatch.wander.models import ElderPosition
from dispatch.wander.zones import zone_out, zones_of
from notifications.models import OutboxMessage, PushDevice

TOKEN_HINT_CHARS = 6


def token_hint(token: str) -> str:
    """The last characters of an FCM registration token: the phone can be recognised, but
    the token (which lets anyone with the project's key push to that phone) is not given."""
    if len(token) < 4 * TOKEN_HINT_CHARS:
        return "…"
    return "…" + token[-TOKEN_HINT_CHARS:]


def _text(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    return value if isinstance(value, str) else None


async def export_elder(
    session: AsyncSession, *, elder: Elder, principal: Principal, retention_days: int
) -> ElderExport:
    """The elder's record, devices, incidents (timelines, offers, trails), SOS requests,
    messages and medical-access log. The export itself is logged first, so it lists
    itself. Never included: token hashes, raw push tokens, request fingerprints."""
    record_access(
        session,
        principal=principal,
        organization_id=elder.organization_id,
        elder_id=elder.id,
        what=AccessKind.EXPORT,
    )
    tokens = await session.scalars(
        select(ElderDeviceToken)
        .where(ElderDeviceToken.elder_id == elder.id)
        .order_by(ElderDeviceToken.created_at, ElderDeviceToken.id)
    )
    devices = await session.scalars(
        select(PushDevice)
        .where(PushDevice.elder_id == elder.id)
        .order_by(PushDevice.created_at, PushDevice.id)
    )
    incidents = list(
        await session.scalars(
            select(Incident)
            .where(Incident.elder_id == elder.id)
            .order_by(Incident.created_at.desc(), Incident.id)
        )
    )
    sos_requests = await session.scalars(
        select(SosRequest)
        .where(SosRequest.elder_id == elder.id)
        .order_by(SosRequest.created_at, SosRequest.id)
    )
    messages = await session.scalars(
        select(OutboxMessage)
        .where(
            or_(
                OutboxMessage.incident_id.in_([i.id for i in incidents]),
                OutboxMessage.recipient_elder_id == elder.id,
            )
        )
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
    )
    plan = await session.get(CheckinPlan, elder.id)
    checkins = await session.scalars(
        select(Checkin).where(Checkin.elder_id == elder.id).order_by(Checkin.captured_at)
    )
    positions = await session.scalars(
        select(ElderPosition)
        .where(ElderPosition.elder_id == elder.id)
        .order_by(ElderPosition.captured_at, ElderPosition.id)
    )
    now = datetime.now(UTC)
    return ElderExport(
        generated_at=now,
        location_retention_days=retention_days,
        elder=elder_out(elder),
        device_tokens=[DeviceTokenRecord.model_validate(t, from_attributes=True) for t in tokens],
        push_devices=[
            PushDeviceRecord(
                id=d.id,
                platform=d.platform,
                fcm_token_hint=token_hint(d.fcm_token),
                created_at=d.created_at,
                updated_at=d.updated_at,
            )
            for d in devices
        ],
        incidents=[
            await incident_view(
                session, incident, viewer=Viewer.OFFICER, principal=principal, access=None
            )
            for incident in incidents
        ],
        sos_requests=[
            SosRequestRecord.model_validate(r, from_attributes=True) for r in sos_requests
        ],
        messages=[
            MessageRecord(
                id=m.id,
                incident_id=m.incident_id,
                kind=m.kind,
                route=m.route,
                recipient_user_id=m.recipient_user_id,
                recipient_elder_id=m.recipient_elder_id,
                recipient_phone=m.recipient_phone,
                language=m.language,
                title=_text(m.payload, "title"),
                body=_text(m.payload, "body"),
                state=m.state.value,
                attempts=m.attempts,
                created_at=m.created_at,
                sent_at=m.sent_at,
            )
            for m in messages
        ],
        medical_access=await access_log(
            session, elder_id=elder.id, organization_id=elder.organization_id
        ),
        checkin_plan=await plan_out(session, plan, now=now) if plan else None,
        checkins=[CheckinRecord.model_validate(c, from_attributes=True) for c in checkins],
        safe_zones=[await zone_out(session, z, now) for z in await zones_of(session, elder.id)],
        positions=[PositionRecord.model_validate(p, from_attributes=True) for p in positions],
    )
