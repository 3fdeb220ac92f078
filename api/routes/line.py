"""Families on LINE: the organization's LINE Official Account (set by officers; its
secrets are never returned), the elder's family contacts (how each is told, their LINE
link, linking codes), and the account's webhook (signed by LINE). docs/line.md."""

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Request, Response, status
from linebot.v3 import WebhookParser
from linebot.v3.exceptions import InvalidSignatureError
from pydantic import BaseModel, Field, StringConstraints

from api.deps import PrincipalDep, SessionDep, SettingsDep
from api.guards import OFFICER, require_org, require_org_object
from api.line_webhook import Reply, handle_event
from core.errors import InvalidInput, NotFound, Unauthenticated
from core.inputs import InputModel
from core.tenancy.service import get_organization
from dispatch.elders import get_elder
from dispatch.enums import AccessKind
from dispatch.family import (
    ContactNotifyIn,
    FamilyContactOut,
    LineCodeIn,
    LineCodeOut,
    family_contacts,
    line_code,
    set_notify,
)
from dispatch.medical_access import record_access
from notifications.channels.line import LineChannel
from notifications.line_models import LineAccount

router = APIRouter(tags=["families on LINE"])

SIGNATURE_HEADER = "X-Line-Signature"


class LineAccountIn(InputModel):
    channel_secret: Annotated[str, StringConstraints(min_length=16, max_length=100)]
    access_token: Annotated[str, StringConstraints(min_length=20, max_length=2000)]
    channel_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,32}$")] | None = None
    basic_id: Annotated[str, StringConstraints(pattern=r"^@[a-zA-Z0-9._-]{2,38}$")] | None = Field(
        default=None, examples=["@123abcde"]
    )


class LineAccountOut(BaseModel):
    channel_id: str | None
    basic_id: str | None
    # The path of the webhook URL to give LINE (after this server's public https origin).
    webhook_path: str
    secrets_set: bool
    updated_at: datetime


class WebhookAck(BaseModel):
    events: int


def _account_out(account: LineAccount) -> LineAccountOut:
    return LineAccountOut(
        channel_id=account.channel_id,
        basic_id=account.basic_id,
        webhook_path=f"/v1/line/webhook/{account.organization_id}",
        secrets_set=True,
        updated_at=account.updated_at,
    )


@router.put(
    "/v1/orgs/{org_id}/line-account",
    summary="Set the organization's LINE Official Account (channel secret, access token)",
    description="Officers of the organization and the admin. The channel secret verifies "
    "the webhook's signatures and the long-lived channel access token sends; neither is "
    "ever returned.",
)
async def put_line_account(
    org_id: uuid.UUID, body: LineAccountIn, session: SessionDep, principal: PrincipalDep
) -> LineAccountOut:
    require_org(principal, org_id, OFFICER)
    await get_organization(session, org_id)
    account = await session.get(LineAccount, org_id)
    if account is None:
        account = LineAccount(organization_id=org_id)
        session.add(account)
    account.channel_secret, account.access_token = body.channel_secret, body.access_token
    account.channel_id, account.basic_id = body.channel_id, body.basic_id
    await session.flush()
    await session.refresh(account)
    return _account_out(account)


@router.get(
    "/v1/orgs/{org_id}/line-account",
    summary="The organization's LINE Official Account (the secrets are not shown)",
)
async def get_line_account(
    org_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> LineAccountOut:
    require_org(principal, org_id, OFFICER)
    account = await session.get(LineAccount, org_id)
    if account is None:
        raise NotFound("no LINE Official Account configured")
    return _account_out(account)


@router.delete(
    "/v1/orgs/{org_id}/line-account",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove the LINE Official Account: families are told by SMS again",
)
async def delete_line_account(
    org_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> Response:
    require_org(principal, org_id, OFFICER)
    account = await session.get(LineAccount, org_id)
    if account is None:
        raise NotFound("no LINE Official Account configured")
    await session.delete(account)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/v1/elders/{elder_id}/contacts",
    summary="The elder's family contacts: how each is told (LINE, SMS, both), LINE links",
    description="Officers. Phones are masked (the full record is GET /v1/elders/{id}); "
    "the read is logged in the medical-access log.",
)
async def get_contacts(
    elder_id: uuid.UUID, session: SessionDep, principal: PrincipalDep
) -> list[FamilyContactOut]:
    elder = await get_elder(session, elder_id)
    require_org_object(principal, elder.organization_id, OFFICER, what="elder")
    record_access(
        session,
        principal=principal,
        organization_id=elder.organization_id,
        elder_id=elder.id,
        what=AccessKind.ELDER,
    )
    return await family_contacts(session, elder)


@router.patch(
    "/v1/elders/{elder_id}/contacts",
    summary="Choose how one family contact is told: line (SMS until linked), sms or both",
)
async def patch_contact(
    elder_id: uuid.UUID, body: ContactNotifyIn, session: SessionDep, principal: PrincipalDep
) -> list[FamilyContactOut]:
    elder = await get_elder(session, elder_id)
    require_org_object(principal, elder.organization_id, OFFICER, what="elder")
    await set_notify(session, elder, body)
    record_access(
        session,
        principal=principal,
        organization_id=elder.organization_id,
        elder_id=elder.id,
        what=AccessKind.ELDER,
    )
    return await family_contacts(session, elder)


@router.post(
    "/v1/elders/{elder_id}/contacts/line-code",
    status_code=status.HTTP_201_CREATED,
    summary="A one-time code linking a family contact's LINE (shown to the officer)",
    description="The family member adds the organization's LINE Official Account as a "
    "friend and sends this code in the chat; the account answers and the contact is "
    "linked. A new code replaces the contact's earlier one. 409 without a LINE account.",
)
async def post_line_code(
    elder_id: uuid.UUID,
    body: LineCodeIn,
    session: SessionDep,
    principal: PrincipalDep,
    settings: SettingsDep,
) -> LineCodeOut:
    elder = await get_elder(session, elder_id)
    require_org_object(principal, elder.organization_id, OFFICER, what="elder")
    return await line_code(
        session,
        elder,
        body,
        officer_id=principal.user_id,
        ttl_s=settings.line_link_code_ttl_s,
    )


@router.post(
    "/v1/line/webhook/{org_id}",
    summary="The organization's LINE webhook (LINE calls it, signed with the channel secret)",
    description=f"No bearer token: `{SIGNATURE_HEADER}` must be the base64 HMAC-SHA256 of "
    "the raw body with the organization's channel secret; anything else is 401. Follow, "
    "unfollow and text message events; other events are ignored.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def post_webhook(
    org_id: uuid.UUID, request: Request, session: SessionDep, background: BackgroundTasks
) -> WebhookAck:
    body = await request.body()
    signature = request.headers.get(SIGNATURE_HEADER)
    account = await session.get(LineAccount, org_id)
    # The same answer whether the organization has no account or the signature is wrong.
    if account is None or not signature:
        raise Unauthenticated("the request is not signed by this organization's LINE channel")
    try:
        events = WebhookParser(account.channel_secret).parse(
            body.decode("utf-8", "replace"), signature
        )
    except InvalidSignatureError:
        raise Unauthenticated(
            "the request is not signed by this organization's LINE channel"
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"not a LINE webhook body: {type(exc).__name__}") from None
    replies: list[Reply] = []
    for event in events:
        reply = await handle_event(session, org_id, event)
        if reply is not None:
            replies.append(reply)
    channel: LineChannel = request.app.state.channels.line
    for reply in replies:  # after the commit, outside any transaction
        background.add_task(channel.reply, account.access_token, reply.reply_token, reply.text)
    return WebhookAck(events=len(events))
