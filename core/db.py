"""Database engine, sessions and the declarative base with a naming convention."""

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.conninfo import make_conninfo
from sqlalchemy import DateTime, MetaData
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from core.settings import Settings

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True)}  # noqa: RUF012


@dataclass(frozen=True)
class DbTuning:
    """How long to wait for the database before giving up (core.settings explains)."""

    connect_timeout_s: float = 2.0
    pool_timeout_s: float = 10.0
    statement_timeout_ms: int = 30_000
    lock_timeout_ms: int = 10_000
    keepalives_idle_s: int = 10
    keepalives_interval_s: int = 5
    keepalives_count: int = 3
    tcp_user_timeout_ms: int = 3000

    @classmethod
    def from_settings(cls, settings: Settings) -> "DbTuning":
        return cls(
            connect_timeout_s=settings.db_connect_timeout_s,
            pool_timeout_s=settings.db_pool_timeout_s,
            statement_timeout_ms=settings.db_statement_timeout_ms,
            lock_timeout_ms=settings.db_lock_timeout_ms,
            keepalives_idle_s=settings.db_keepalives_idle_s,
            keepalives_interval_s=settings.db_keepalives_interval_s,
            keepalives_count=settings.db_keepalives_count,
            tcp_user_timeout_ms=settings.db_tcp_user_timeout_ms,
        )

    def connect_args(self) -> dict[str, Any]:
        """libpq parameters: every connection works in UTC, with the timeouts and keepalives."""
        return {
            "options": f"-c timezone=UTC -c statement_timeout={self.statement_timeout_ms} "
            f"-c lock_timeout={self.lock_timeout_ms}",
            # libpq counts whole seconds, and at least 2.
            "connect_timeout": max(2, math.ceil(self.connect_timeout_s)),
            "keepalives": 1,
            "keepalives_idle": self.keepalives_idle_s,
            "keepalives_interval": self.keepalives_interval_s,
            "keepalives_count": self.keepalives_count,
            "tcp_user_timeout": self.tcp_user_timeout_ms,
        }


def libpq_conninfo(url: str, tuning: DbTuning | None = None) -> str:
    """A SQLAlchemy URL as a libpq connection string (for psycopg's own connections),
    with the tuning's timeouts and keepalives.

    Read by the engine's own dialect, so every form the engine accepts means the same
    here, a multi-host URL included: ``?host=h1:p1&host=h2:p2`` or ``?host=h1,h2&port=
    p1,p2`` (with ``target_session_attrs=read-write``, docs/reliability.md) becomes
    libpq's ``host=h1,h2 port=p1,p2``."""
    parsed = make_url(url)
    _, params = parsed.get_dialect()().create_connect_args(parsed)
    tuned = (tuning or DbTuning()).connect_args()
    tuned.pop("options")
    return make_conninfo("", **{**params, **tuned})


def create_engine(
    url: str, *, pool_size: int = 10, max_overflow: int = 20, tuning: DbTuning | None = None
) -> AsyncEngine:
    tuning = tuning or DbTuning()
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=tuning.pool_timeout_s,
        pool_pre_ping=True,
        # Errors and logs never carry statement parameters: they hold personal data.
        hide_parameters=True,
        connect_args=tuning.connect_args(),
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
