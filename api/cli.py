"""The ``phikat`` command: serve, worker, db upgrade, demo, zones import, privacy purge."""

import asyncio
import os
import signal
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from api.app import start_workers
from api.cli_enrol import elders_app, responders_app
from api.demo import DemoLogins, print_summary, seed_demo, serve_and_simulate
from api.simulator import SimulationConfig, simulate
from core import log_context, metrics
from core.db import create_engine, create_sessionmaker
from core.errors import DomainError
from core.migrations import upgrade_to_head
from core.settings import get_settings
from core.tenancy.service import get_organization_by_code
from dispatch.privacy.retention import PurgeReport, purge_expired_trails
from geo.bulk_import import ImportReport, check_document, import_features, stream_features
from geo.geojson import DocumentError
from notifications.channels.factory import build_channels

# The live channel's frames are small (a hello, receipts, pongs): uvicorn refuses a
# larger message itself (1009) instead of assembling up to 16 MiB before the app sees it.
WS_MAX_SIZE = 65536

app = typer.Typer(
    help="Phikat: emergency dispatch for dependent elderly people.", no_args_is_help=True
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
zones_app = typer.Typer(help="Care zones.", no_args_is_help=True)
privacy_app = typer.Typer(help="Personal data (PDPA).", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(zones_app, name="zones")
app.add_typer(privacy_app, name="privacy")
app.add_typer(elders_app, name="elders")
app.add_typer(responders_app, name="responders")
console = Console()
err = Console(stderr=True)

HostOpt = Annotated[str, typer.Option(help="Address to listen on")]
PortOpt = Annotated[int, typer.Option(help="Port to listen on")]


def _configure_logging() -> None:
    settings = get_settings()
    log_context.configure(settings.log_level, settings.log_format)


@app.command()
def serve(host: HostOpt = "127.0.0.1", port: PortOpt = 8000) -> None:
    """Run the HTTP API."""
    _configure_logging()
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_config=None,
        ws_max_size=WS_MAX_SIZE,
        ws_per_message_deflate=get_settings().live_compression,
    )


@app.command()
def worker() -> None:
    """Run only the deadline worker and the outbox sender; any number may run."""
    _configure_logging()
    settings = get_settings()

    async def run() -> None:
        engine = create_engine(settings.database_url)
        metrics.watch_pool(engine, size=settings.db_pool_size + settings.db_max_overflow)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        channels = build_channels(settings)
        try:
            await asyncio.gather(
                *start_workers(create_sessionmaker(engine), channels, settings, stop)
            )
        finally:
            await channels.close()
            await engine.dispose()

    asyncio.run(run())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration (creates the postgis extension on first run)."""
    _configure_logging()
    upgrade_to_head(get_settings().database_url)
    console.print("[green]database schema is at head[/green]")


@privacy_app.command("purge")
def privacy_purge(
    days: Annotated[
        int | None,
        typer.Option(
            min=1, help="Keep trails this many days (default PHIKAT_LOCATION_RETENTION_DAYS)"
        ),
    ] = None,
) -> None:
    """Delete the location trails of incidents closed longer ago than the retention period
    (what every worker also does every PHIKAT_RETENTION_SWEEP_S); prints what it deleted."""
    _configure_logging()
    settings = get_settings()
    retention_days = days or settings.location_retention_days

    async def run() -> PurgeReport:
        engine = create_engine(settings.database_url)
        try:
            return await purge_expired_trails(
                create_sessionmaker(engine), retention_days=retention_days
            )
        finally:
            await engine.dispose()

    report = asyncio.run(run())
    console.print(
        f"incidents closed before {report.cutoff.isoformat(timespec='seconds')} "
        f"({retention_days} days): deleted the trails of {report.incidents} incidents, "
        f"{report.positions} positions and {report.sos_fixes} positions of repeated SOS presses; "
        f"{report.elder_positions} positions sent outside incidents"
    )


SpeedOpt = Annotated[float, typer.Option(help="Simulated time runs this many times faster")]
SosEveryOpt = Annotated[float, typer.Option(help="Mean simulated seconds between two SOS")]


@app.command()
def demo(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    seed_only: Annotated[bool, typer.Option(help="Seed and print logins, do not serve")] = False,
    simulate: Annotated[
        bool, typer.Option(help="Run the simulator: elders press SOS, responders answer")
    ] = True,
    speed: SpeedOpt = 1.0,
    sos_every: SosEveryOpt = 45.0,
) -> None:
    """Seed the Tha Khantho demo organization, print its logins, serve and simulate."""
    _configure_logging()
    settings = get_settings()

    async def seed() -> DemoLogins:
        engine = create_engine(settings.database_url)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                return await seed_demo(session, password=os.environ.get("PHIKAT_DEMO_PASSWORD"))
        finally:
            await engine.dispose()

    logins = asyncio.run(seed())
    if seed_only:
        print_summary(console, logins, f"http://{host}:{port}", simulating=False)
        return
    config = SimulationConfig(
        base_url=f"http://{host}:{port}",
        officer_email=logins.officer_email,
        password=logins.password,
        speed=speed,
        sos_every_s=sos_every,
    )
    asyncio.run(
        serve_and_simulate(
            console,
            logins,
            host=host,
            port=port,
            simulation=config if simulate else None,
            ws_max_size=WS_MAX_SIZE,
            ws_per_message_deflate=get_settings().live_compression,
        )
    )


@app.command("simulate")
def simulate_command(
    base_url: Annotated[str, typer.Option(help="The running server")] = "http://127.0.0.1:8000",
    officer_email: Annotated[str, typer.Option(help="An officer of the organization")] = (
        "officer@thakhantho.demo"
    ),
    password: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, help="Password of the officer and responders"),
    ] = "",
    speed: SpeedOpt = 1.0,
    sos_every: SosEveryOpt = 45.0,
    duration: Annotated[float | None, typer.Option(help="Stop after this many seconds")] = None,
) -> None:
    """Drive a running server as elders and responders would, through the public API."""
    _configure_logging()
    config = SimulationConfig(
        base_url=base_url,
        officer_email=officer_email,
        password=password,
        speed=speed,
        sos_every_s=sos_every,
    )
    stats = asyncio.run(simulate(config, duration_s=duration))
    console.print(stats)


@zones_app.command("import")
def zones_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    org: Annotated[str, typer.Option("--org", help="The organization's code")],
    repair: Annotated[
        bool, typer.Option(help="Close open rings and repair invalid polygons")
    ] = False,
    skip_invalid: Annotated[
        bool, typer.Option(help="Import the valid features even when some are bad")
    ] = False,
    dry_run: Annotated[bool, typer.Option(help="Validate only; store nothing")] = False,
) -> None:
    """Import care zones from a (large) GeoJSON file, streaming it feature by feature."""
    _configure_logging()
    try:
        kind = check_document(file)
    except DocumentError as exc:
        err.print(f"[red]{file}: {exc}[/red]")
        raise typer.Exit(2) from exc
    try:
        report = asyncio.run(
            _import_file(
                file,
                kind,
                org,
                size=file.stat().st_size,
                repair=repair,
                skip_invalid=skip_invalid,
                dry_run=dry_run,
            )
        )
    except DomainError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from exc
    _print_report(report, dry_run=dry_run, skip_invalid=skip_invalid)
    if report.problems and not skip_invalid:
        raise typer.Exit(1)


async def _import_file(
    file: Path,
    kind: str,
    org_code: str,
    *,
    size: int,
    repair: bool,
    skip_invalid: bool,
    dry_run: bool,
) -> ImportReport:
    settings = get_settings()
    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            await session.begin()
            org = await get_organization_by_code(session, org_code)
            with (
                file.open("rb") as f,
                Progress(
                    TextColumn("[bold]importing zones"),
                    BarColumn(),
                    DownloadColumn(),
                    TimeRemainingColumn(),
                    console=err,
                    disable=not err.is_terminal,
                ) as progress,
            ):
                task = progress.add_task("import", total=size)
                report = await import_features(
                    session,
                    organization_id=org.id,
                    features=stream_features(f, kind),
                    repair=repair,
                    skip_invalid=skip_invalid,
                    on_feature=lambda: progress.update(task, completed=f.tell()),
                )
                progress.update(task, completed=size)
            if dry_run or (report.problems and not skip_invalid):
                await session.rollback()
                report.imported.clear()
            else:
                await session.commit()
            return report
    finally:
        await engine.dispose()


def _print_report(report: ImportReport, *, dry_run: bool, skip_invalid: bool) -> None:
    if report.problems:
        table = Table("index", "name", "field", "reason", title="Features refused")
        for p in report.problems[:50]:
            table.add_row(str(p.index), p.name or "", p.field, p.reason)
        err.print(table)
        if len(report.problems) > 50:
            err.print(f"... and {len(report.problems) - 50} more")
    valid = report.seen - len(report.problems)
    console.print(
        f"{report.seen} features read, {valid} valid, {len(report.problems)} refused, "
        f"{len(report.repaired)} repaired, {len(report.imported)} imported"
    )
    if report.problems and not skip_invalid and not dry_run:
        err.print(
            "[red]nothing was imported;[/red] fix the features above, or pass "
            "--repair / --skip-invalid"
        )


def main() -> None:
    app()
