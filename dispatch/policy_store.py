"""Reading and storing an organization's dispatch policy."""

import uuid

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dispatch.models import DispatchPolicyRow
from dispatch.policy_document import DEFAULT_POLICY, DispatchPolicy


async def get_policy(session: AsyncSession, organization_id: uuid.UUID) -> DispatchPolicy:
    row = await session.get(DispatchPolicyRow, organization_id)
    return DispatchPolicy.model_validate(row.policy) if row else DEFAULT_POLICY


async def set_policy(
    session: AsyncSession, organization_id: uuid.UUID, policy: DispatchPolicy
) -> DispatchPolicy:
    document = policy.model_dump(mode="json")
    await session.execute(
        insert(DispatchPolicyRow)
        .values(organization_id=organization_id, policy=document)
        .on_conflict_do_update(
            index_elements=[DispatchPolicyRow.organization_id], set_={"policy": document}
        )
    )
    return policy
