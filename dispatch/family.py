"""An elder's family contacts as the officers manage them for messages: how each is told
(``notify``: LINE, SMS or both) and their LINE link, and the one-time linking codes.

A contact is an entry of ``elder.contacts``, addressed by its position in that list
(``contact``, from 0, as ``GET /v1/elders/{id}/contacts`` shows it); its LINE link is
kept by phone number (``notifications.line_models``). Phones are shown masked here: the
full record is ``GET /v1/elders/{id}`` (logged).
"""

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, InvalidInput
from core.inputs import InputModel
from core.types import UtcDateTime
from dispatch.locks import lock_elder
from dispatch.models import Elder
from notifications.line_linking import issue_code, links, pending_codes
from notifications.line_models import LineAccount

Notify = Literal["line", "sms", "both"]
ContactIndex = Annotated[int, Field(ge=0, le=9, description="the contact's position, from 0")]


class ContactNotifyIn(InputModel):
    contact: ContactIndex
    notify: Notify


class LineCodeIn(InputModel):
    contact: ContactIndex


class LineState(BaseModel):
    linked: bool
    linked_at: UtcDateTime | None = None
    # An unexpired linking code waits for this contact until then.
    code_expires_at: UtcDateTime | None = None


class FamilyContactOut(BaseModel):
    contact: int
    name: str
    relation: str
    phone_masked: str
    notify: Notify
    # Where messages go now: "line" (linked, and the organization has an account),
    # "sms", or "line+sms".
    routes: str
    line: LineState


class LineCodeOut(BaseModel):
    contact: int
    code: str = Field(description="show it to the family member: they send it in LINE")
    expires_at: UtcDateTime
    basic_id: str | None
    add_friend_url: str | None


def mask(phone: str) -> str:
    digits = "".join(c for c in phone if c.isdigit())
    return "•" * max(len(digits) - 4, 0) + digits[-4:]


def _contact(elder: Elder, index: int) -> dict[str, str]:
    if index >= len(elder.contacts):
        raise InvalidInput(f"the elder has {len(elder.contacts)} contacts; no contact {index}")
    return elder.contacts[index]


async def family_contacts(session: AsyncSession, elder: Elder) -> list[FamilyContactOut]:
    linked = await links(session, elder.id)
    codes = await pending_codes(session, elder.id)
    has_line = await session.get(LineAccount, elder.organization_id) is not None
    out = []
    for i, c in enumerate(elder.contacts):
        notify: Notify = c.get("notify", "line")  # type: ignore[assignment]
        on_line = has_line and c["phone"] in linked and notify != "sms"
        routes = "line+sms" if on_line and notify == "both" else "line" if on_line else "sms"
        out.append(
            FamilyContactOut(
                contact=i,
                name=c.get("name", ""),
                relation=c.get("relation", ""),
                phone_masked=mask(c["phone"]),
                notify=notify,
                routes=routes,
                line=LineState(
                    linked=c["phone"] in linked,
                    linked_at=linked.get(c["phone"]),
                    code_expires_at=codes.get(c["phone"]),
                ),
            )
        )
    return out


async def set_notify(session: AsyncSession, elder: Elder, data: ContactNotifyIn) -> None:
    locked = await lock_elder(session, elder.id)
    assert locked is not None
    _contact(locked, data.contact)
    contacts = [dict(c) for c in locked.contacts]
    contacts[data.contact]["notify"] = data.notify
    locked.contacts = contacts  # a new list: the JSONB column is written
    await session.flush()


async def line_code(
    session: AsyncSession,
    elder: Elder,
    data: LineCodeIn,
    *,
    officer_id: uuid.UUID | None,
    ttl_s: int,
) -> LineCodeOut:
    account = await session.get(LineAccount, elder.organization_id)
    if account is None:
        raise Conflict("the organization has no LINE Official Account set up (docs/line.md)")
    contact = _contact(elder, data.contact)
    issued = await issue_code(
        session,
        organization_id=elder.organization_id,
        elder_id=elder.id,
        phone=contact["phone"],
        created_by=officer_id,
        ttl_s=ttl_s,
    )
    return LineCodeOut(
        contact=data.contact,
        code=issued.code,
        expires_at=issued.expires_at,
        basic_id=account.basic_id,
        add_friend_url=f"https://line.me/R/ti/p/{account.basic_id}" if account.basic_id else None,
    )
