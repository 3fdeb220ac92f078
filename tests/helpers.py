"""Assertions shared by the HTTP tests."""

from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import Base


def assert_problem(
    response: httpx.Response, status: int, *, detail: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    assert "Traceback" not in response.text
    if detail is not None:
        assert detail in body["detail"], body
    return body


async def db_fingerprint(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """A digest of every table's content: equal before and after means nothing changed."""
    async with sessionmaker() as session:
        digests = {}
        for table in Base.metadata.sorted_tables:
            digest = await session.scalar(
                text(
                    f"select count(*) || ':' || coalesce(md5(string_agg(t::text, '|' "
                    f"order by t::text)), '') from {table.name} t"
                )
            )
            digests[table.name] = str(digest)
        return digests
