"""Enrolment in bulk: a province's elders (with a device token each) and responders
(with their zone teams) in one transaction, through PostgreSQL's COPY.

The rows are the API's own input models (``ElderCreate``, ``ResponderImport``): a
bulk row is validated exactly as one sent over HTTP. COPY instead of INSERTs: at
500,000 elders the difference is minutes against hours (bench/national.py).
"""

import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field

from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Conflict, FieldProblem, InvalidInput
from core.security import new_device_token
from core.tenancy.models import User
from dispatch.inputs import ElderCreate, ResponderImport
from geo import repository as zones

ELDER_COLUMN_TYPES = [
    "uuid",
    "uuid",
    "text",
    "text",
    "text",
    "text",
    "int2",
    "text[]",
    "text[]",
    "text[]",
    "text",
    "jsonb",
    "text",
]


@dataclass
class BulkReport:
    elders: int = 0
    responders: int = 0
    # (elder id, device token): shown once, as an elder's token always is.
    tokens: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    # The new responders' account ids, in the order of the rows.
    responder_ids: list[uuid.UUID] = field(default_factory=list)


async def _driver(session: AsyncSession) -> AsyncConnection:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, AsyncConnection)
    return driver


async def import_elders(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    rows: AsyncIterator[ElderCreate] | Iterable[ElderCreate],
    issue_tokens: bool,
) -> BulkReport:
    """COPY the elders (and a device token each when ``issue_tokens``)."""
    report = BulkReport()
    tokens: list[tuple[uuid.UUID, uuid.UUID, str]] = []
    conn = await _driver(session)
    async with conn.cursor().copy(
        "COPY elder (id, organization_id, name, phone, home, address, dependency_group,"
        " conditions, medications, allergies, blood_type, contacts, language)"
        " FROM STDIN"
    ) as copy:
        copy.set_types(ELDER_COLUMN_TYPES)
        async for elder in _each(rows):
            elder_id = uuid.uuid4()
            await copy.write_row(
                (
                    elder_id,
                    organization_id,
                    elder.name,
                    elder.phone,
                    f"SRID=4326;POINT({elder.home.lon} {elder.home.lat})",
                    elder.address,
                    elder.dependency_group,
                    elder.conditions,
                    elder.medications,
                    elder.allergies,
                    elder.blood_type,
                    Jsonb([c.model_dump() for c in elder.contacts]),
                    elder.language.value,
                )
            )
            report.elders += 1
            if issue_tokens:
                token_id = uuid.uuid4()
                token, secret_hash = new_device_token(token_id)
                tokens.append((token_id, elder_id, secret_hash))
                report.tokens.append((elder_id, token))
    if tokens:
        async with conn.cursor().copy(
            "COPY elder_device_token (id, elder_id, secret_hash, label) FROM STDIN"
        ) as copy:
            for token_id, elder_id, secret_hash in tokens:
                await copy.write_row((token_id, elder_id, secret_hash, "bulk enrolment"))
    return report


async def import_responders(
    session: AsyncSession,
    *,
    organization_id: uuid.UUID,
    rows: Iterable[ResponderImport],
) -> BulkReport:
    """COPY the responders' accounts, profiles and zone teams. Every zone must be one of
    the organization's (422 naming the rows otherwise; nothing is stored)."""
    responders = list(rows)
    wanted = {z for r in responders for z in r.zone_ids}
    known = await zones.existing_zone_ids(session, organization_id, wanted)
    unknown = [
        FieldProblem(loc=["rows", n, "zone_ids"], msg=f"unknown zone {z}")
        for n, r in enumerate(responders)
        for z in r.zone_ids
        if z not in known
    ]
    if unknown:
        problem = f"{len(unknown)} zone id(s) are not zones of this organization"
        raise InvalidInput(problem, errors=unknown[:50])
    emails = [r.email for r in responders]
    if len(set(emails)) < len(emails):
        raise Conflict("an email appears twice in the file: each is one person's login")
    taken = set(await session.scalars(select(User.email).where(User.email.in_(emails))))
    if taken:
        raise Conflict(f"{len(taken)} email(s) are already accounts, e.g. {min(taken)}")
    ids = [uuid.uuid4() for _ in responders]
    conn = await _driver(session)
    async with conn.cursor().copy(
        "COPY app_user (id, organization_id, role, name, email, phone, password_hash) FROM STDIN"
    ) as copy:
        for user_id, r in zip(ids, responders, strict=True):
            row = (user_id, organization_id, "responder", r.name, r.email, r.phone)
            await copy.write_row((*row, r.password_hash))
    async with conn.cursor().copy(
        "COPY responder (id, organization_id, kind, skills, on_duty) FROM STDIN"
    ) as copy:
        copy.set_types(["uuid", "uuid", "text", "text[]", "bool"])
        for user_id, r in zip(ids, responders, strict=True):
            await copy.write_row(
                (user_id, organization_id, r.kind.value, sorted(set(r.skills)), False)
            )
    async with conn.cursor().copy("COPY responder_zone (responder_id, zone_id) FROM STDIN") as copy:
        for user_id, r in zip(ids, responders, strict=True):
            for zone_id in set(r.zone_ids):
                await copy.write_row((user_id, zone_id))
    return BulkReport(responders=len(responders), responder_ids=ids)


async def _each(
    rows: AsyncIterator[ElderCreate] | Iterable[ElderCreate],
) -> AsyncIterator[ElderCreate]:
    if isinstance(rows, AsyncIterator):
        async for row in rows:
            yield row
    else:
        for row in rows:
            yield row
