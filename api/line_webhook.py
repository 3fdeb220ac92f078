"""What the organization's LINE Official Account does with a family member's events
(already verified: ``api.routes.line``): a follow is greeted with how to link; a text
that is a linking code links the contact; an unfollow (blocked) unlinks them. Runs in
the request's transaction; the replies are sent after it commits."""

import logging
import uuid
from dataclasses import dataclass

from linebot.v3.webhooks import (
    FollowEvent,
    MessageEvent,
    TextMessageContent,
    UnfollowEvent,
    UserSource,
)
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import TooManyRequests
from dispatch.models import Elder
from notifications.line_linking import count_try, normalize, redeem, unlink_user
from notifications.texts import render

log = logging.getLogger("phikat.line")


@dataclass(frozen=True)
class Reply:
    reply_token: str
    text: str


def both_languages(key: str) -> str:
    """Before linking, the family member's language is not known: Thai, then English."""
    return f"{render(key, 'th')}\n\n{render(key, 'en')}"


async def handle_event(
    session: AsyncSession, organization_id: uuid.UUID, event: object
) -> Reply | None:
    source = getattr(event, "source", None)
    user_id = source.user_id if isinstance(source, UserSource) else None
    reply_token = getattr(event, "reply_token", None)
    if user_id is None:  # a group or a room: the account links people one by one
        return None
    if isinstance(event, UnfollowEvent):
        removed = await unlink_user(session, organization_id, user_id)
        log.info("a LINE user unfollowed the account: %d family links removed", removed)
        return None
    text: str | None = None
    if isinstance(event, FollowEvent):
        text = both_languages("line_welcome")
    elif isinstance(event, MessageEvent) and isinstance(event.message, TextMessageContent):
        text = await _code_message(session, organization_id, user_id, event.message.text)
    if text is None or not reply_token:
        return None
    return Reply(reply_token=reply_token, text=text)


async def _code_message(
    session: AsyncSession, organization_id: uuid.UUID, user_id: str, message: str
) -> str:
    code = normalize(message)
    if code is None:
        return both_languages("line_welcome")
    try:
        await count_try(session, organization_id, user_id)
    except TooManyRequests:
        return both_languages("line_code_too_many")
    linked = await redeem(session, organization_id=organization_id, code=code, line_user_id=user_id)
    if linked is None:
        return both_languages("line_code_invalid")
    elder = await session.get(Elder, linked.elder_id)
    assert elder is not None  # the code goes with the elder (cascade)
    log.info("a family contact of elder %s linked their LINE account", elder.id)
    return render("line_linked", elder.language.value, elder=elder.name)
