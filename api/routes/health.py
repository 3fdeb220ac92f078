import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from core.migrations import head_revision

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


READY_CHECK_TIMEOUT_S = 2.0


@router.get(
    "/readyz",
    summary="Readiness for SOS intake: database reachable and schema at head",
    description="The live channel is reported (`live`) but does not decide readiness: "
    "after a database restart every instance re-listens at once, and SOS intake must not "
    "be taken out of the load balancer for that. `/readyz/live` checks it alone.",
)
async def readyz(request: Request) -> JSONResponse:
    head = head_revision()
    try:
        async with asyncio.timeout(READY_CHECK_TIMEOUT_S):
            async with request.app.state.engine.connect() as conn:
                current = (
                    await conn.execute(text("select version_num from alembic_version"))
                ).scalar()
    except Exception as exc:  # any failure means "not ready", never a 500
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable", "reason": type(exc).__name__},
            status_code=503,
        )
    listening = request.app.state.hub.listening.is_set()
    ready = current == head
    return JSONResponse(
        {
            "status": "ok" if ready else "unavailable",
            "database": "ok",
            "schema": current,
            "expected_schema": head,
            "live": "listening" if listening else "connecting",
        },
        status_code=200 if ready else 503,
    )


@router.get(
    "/readyz/live",
    summary="Readiness of the live channel: this process listens for new events",
)
async def readyz_live(request: Request) -> JSONResponse:
    listening = request.app.state.hub.listening.is_set()
    return JSONResponse(
        {
            "status": "ok" if listening else "unavailable",
            "live": "listening" if listening else "connecting",
        },
        status_code=200 if listening else 503,
    )
