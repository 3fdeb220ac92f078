"""Reading and storing an organization's dispatch policy.

Every SOS and every wave reads its organization's policy, which changes a few times a
year: each process keeps what it read for ``POLICY_CACHE_S``. A change applies at once
in the process that saved it and within that time everywhere else (docs/decisions.md)."""

import time
import uuid

from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.models import DispatchPolicyRow
from dispatch.policy_document import DEFAULT_POLICY, DispatchPolicy

POLICY_CACHE_S = 10.0
# organization -> (time.monotonic() when read, the policy); policies are frozen models.
_read: dict[uuid.UUID, tuple[float, DispatchPolicy]] = {}


async def get_policy(session: AsyncSession, organization_id: uuid.UUID) -> DispatchPolicy:
    now = time.monotonic()
    cached = _read.get(organization_id)
    if cached is not None and now - cached[0] < POLICY_CACHE_S:
        return cached[1]
    row = await session.get(DispatchPolicyRow, organization_id)
    policy = DispatchPolicy.model_validate(row.policy) if row else DEFAULT_POLICY
    _read[organization_id] = (now, policy)
    return policy


async def set_policy(
    session: AsyncSession, organization_id: uuid.UUID, policy: DispatchPolicy
) -> DispatchPolicy:
    # Forgotten now and again at commit, so that no read in between keeps the old one.
    _read.pop(organization_id, None)
    event.listen(
        session.sync_session,
        "after_commit",
        lambda _: _read.pop(organization_id, None),
        once=True,
    )
    document = policy.model_dump(mode="json")
    await session.execute(
        insert(DispatchPolicyRow)
        .values(organization_id=organization_id, policy=document)
        .on_conflict_do_update(
            index_elements=[DispatchPolicyRow.organization_id], set_={"policy": document}
        )
    )
    return policy
