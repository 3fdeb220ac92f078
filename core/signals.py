"""Cross-process signals over PostgreSQL LISTEN/NOTIFY. Payloads are ids only.

A notification is sent when the transaction that raised it commits, and is
lost by a process that is not listening at that moment: listeners treat it
as a hint and read the truth (the event log) from the database.
"""

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

# "<organization id>:<last event id>" after events were committed.
EVENTS_CHANNEL = "phikat_events"
# "device:<token id>" or "user:<user id>" when a credential stops being valid.
REVOCATIONS_CHANNEL = "phikat_revocations"


async def notify(session: AsyncSession, channel: str, payload: str) -> None:
    """Queue a notification; PostgreSQL delivers it when the transaction commits."""
    await session.execute(select(func.pg_notify(channel, payload)))


def device_key(token_id: object) -> str:
    return f"device:{token_id}"


def user_key(user_id: object) -> str:
    return f"user:{user_id}"
