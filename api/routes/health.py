from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from core.migrations import head_revision

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: database reachable and schema at head")
async def readyz(request: Request) -> JSONResponse:
    head = head_revision()
    try:
        async with request.app.state.engine.connect() as conn:
            current = (await conn.execute(text("select version_num from alembic_version"))).scalar()
    except Exception as exc:  # any failure means "not ready", never a 500
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable", "reason": type(exc).__name__},
            status_code=503,
        )
    # The live channel needs its LISTEN connection: without it sockets get no events.
    listening = request.app.state.hub.listening.is_set()
    ready = current == head and listening
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
