"""The officers' live map and reports pages, and every asset they use, served by us."""

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent.parent / "static"
PROJECT = Path(__file__).resolve().parent.parent.parent

router = APIRouter(include_in_schema=False)


@router.get("/map")
async def map_page() -> FileResponse:
    return FileResponse(STATIC / "map.html", media_type="text/html")


@router.get("/map/reports")
async def reports_page() -> FileResponse:
    return FileResponse(STATIC / "reports.html", media_type="text/html")


@router.get("/map/config.json")
async def map_config(request: Request) -> dict[str, Any]:
    settings = request.app.state.settings
    return {
        "tiles_url": settings.map_tiles_url or None,
        "tiles_attribution": settings.map_tiles_attribution,
    }


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/map")


def mount_assets(app: FastAPI, web_assets_dir: str | None) -> None:
    """Our own page scripts, and the npm packages' built files (Leaflet, Chart.js)."""
    modules = Path(web_assets_dir) if web_assets_dir else PROJECT / "web" / "node_modules"
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.mount(
        "/vendor/leaflet",
        StaticFiles(directory=modules / "leaflet" / "dist", check_dir=False),
        name="leaflet",
    )
    app.mount(
        "/vendor/chart.js",
        StaticFiles(directory=modules / "chart.js" / "dist", check_dir=False),
        name="chartjs",
    )
