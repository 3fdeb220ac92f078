"""Telling an elder's family: one outbox message per contact and route, in the caller's
transaction, routed by each contact's choice (``notify``):

- ``line`` (the default): LINE when the contact has linked their LINE account and the
  organization has a LINE Official Account; SMS otherwise. A LINE message that fails
  for good is followed by the same text by SMS (``notifications.outbox_claim``).
- ``sms``: SMS only.
- ``both``: SMS, and LINE too when linked (no SMS fallback then: the SMS is sent anyway).

Family messages carry the elder (``recipient_elder_id``) and the contact's phone, so an
erasure or an export of the elder finds them.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from notifications.line_flex import FamilyCard, flex_message
from notifications.line_models import LineAccount, LineLink
from notifications.messages import Message, Recipient, Route
from notifications.outbox import enqueue
from notifications.texts import render

NOTIFY_CHOICES = ("line", "sms", "both")


@dataclass(frozen=True)
class FamilyNews:
    organization_id: uuid.UUID
    elder_id: uuid.UUID
    elder_name: str
    language: str
    contacts: Sequence[dict[str, str]]
    template: str
    values: dict[str, str]
    incident_id: uuid.UUID | None = None
    zone: str | None = None
    lat: float | None = None
    lon: float | None = None


async def linked_phones(session: AsyncSession, elder_id: uuid.UUID) -> set[str]:
    return set(await session.scalars(select(LineLink.phone).where(LineLink.elder_id == elder_id)))


async def tell_family(session: AsyncSession, news: FamilyNews) -> int:
    """Queue the news for every contact; returns how many messages were queued."""
    if not news.contacts:
        return 0
    has_line = await session.get(LineAccount, news.organization_id) is not None
    linked = await linked_phones(session, news.elder_id) if has_line else set()
    line_extra: dict[str, object] | None = None
    queued = 0
    for contact in news.contacts:
        phone = contact.get("phone")
        if not phone:
            continue
        notify = contact.get("notify", "line")
        on_line = phone in linked and notify in ("line", "both")
        if on_line:
            if line_extra is None:
                line_extra = {"line": _flex(news)}
            enqueue(
                session,
                _message(news, Route.LINE, phone),
                extra={**line_extra, "fallback_sms": notify == "line"},
            )
            queued += 1
        if notify in ("sms", "both") or not on_line:
            enqueue(session, _message(news, Route.SMS, phone))
            queued += 1
    return queued


def _message(news: FamilyNews, route: Route, phone: str) -> Message:
    return Message(
        organization_id=news.organization_id,
        kind=news.template,
        route=route,
        recipient=Recipient(elder_id=news.elder_id, phone=phone),
        template=news.template,
        language=news.language,
        values=news.values,
        incident_id=news.incident_id,
    )


def _flex(news: FamilyNews) -> dict[str, object]:
    card = FamilyCard(
        elder=news.elder_name,
        template=news.template,
        text=render(news.template, news.language, **news.values),
        language=news.language,
        zone=news.zone,
        lat=news.lat,
        lon=news.lon,
    )
    return flex_message(card)
