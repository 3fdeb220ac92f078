"""Request rate limits shared by every API process, kept in PostgreSQL.

GCRA (the generic cell rate algorithm) stores one timestamp per key, the
"theoretical arrival time": each request pushes it ``interval`` further, and a
request is refused while that would put it more than ``window`` ahead of now.
That is a token bucket of ``per_minute`` tokens refilled evenly over a minute,
decided by one UPSERT. The table is UNLOGGED: the counters need not survive a
crash, and skipping the WAL keeps the extra write cheap. A refused request
changes nothing, so it does not push the key's time further out.
"""

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base
from core.errors import TooManyRequests


class RateLimitState(Base):
    __tablename__ = "rate_limit"
    __table_args__ = ({"prefixes": ["UNLOGGED"]},)

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    tat: Mapped[datetime]


@dataclass(frozen=True)
class Rate:
    """``per_minute`` requests a minute on average, up to ``per_minute`` at once."""

    per_minute: int

    @property
    def interval_s(self) -> float:
        return 60.0 / self.per_minute


_TAKE = text(
    """
    INSERT INTO rate_limit AS r (key, tat)
    VALUES (:key, clock_timestamp() + make_interval(secs => :interval))
    ON CONFLICT (key) DO UPDATE
        SET tat = greatest(r.tat, clock_timestamp()) + make_interval(secs => :interval)
        WHERE :force
           OR greatest(r.tat, clock_timestamp()) + make_interval(secs => :interval)
              <= clock_timestamp() + interval '60 seconds'
    RETURNING tat
    """
)

_WAIT = text(
    "SELECT extract(epoch FROM greatest(tat, clock_timestamp()) "
    "+ make_interval(secs => :interval) - clock_timestamp() - interval '60 seconds') "
    "FROM rate_limit WHERE key = :key"
)


async def take(
    session: AsyncSession, key: str, rate: Rate, *, what: str, force: bool = False
) -> None:
    """Count one request against ``key``; raise 429 (with the wait) when over ``rate``.

    ``force`` counts the request without ever refusing it (an SOS that opens an
    incident is never refused, but the presses after it are counted from it).
    """
    params = {"key": key, "interval": rate.interval_s, "force": force}
    if (await session.execute(_TAKE, params)).first() is not None:
        return
    wait = await session.scalar(_WAIT, params)
    retry_after = max(1, math.ceil(float(wait or 1)))
    raise TooManyRequests(
        f"too many {what}: at most {rate.per_minute} a minute; try again in {retry_after} s",
        retry_after_s=retry_after,
    )
