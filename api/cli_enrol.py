"""``phikat elders import`` and ``phikat responders import``: a province's enrolment from
JSON Lines files (one API body per line), all or nothing, through COPY."""

import asyncio
import csv
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Generic, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console

from core.db import create_engine, create_sessionmaker
from core.errors import DomainError
from core.settings import get_settings
from core.tenancy.service import get_organization_by_code
from dispatch.bulk import BulkReport, import_elders, import_responders
from dispatch.inputs import ElderCreate, ResponderImport

console = Console()
err = Console(stderr=True)
elders_app = typer.Typer(help="Elders.", no_args_is_help=True)
responders_app = typer.Typer(help="Responders.", no_args_is_help=True)

FileArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)]
OrgOpt = Annotated[str, typer.Option("--org", help="The organization's code")]
M = TypeVar("M", ElderCreate, ResponderImport)
MAX_SHOWN = 20


class Rows(Generic[M]):
    """A JSON Lines file read as models, line by line; bad lines are noted, not yielded."""

    def __init__(self, path: Path, model: type[M]) -> None:
        self.path: Path = path
        self.model: type[M] = model
        self.problems: list[str] = []

    def __iter__(self) -> Iterator[M]:
        with self.path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    yield self.model.model_validate_json(line)
                except ValidationError as exc:
                    first = exc.errors()[0]
                    where = ".".join(str(p) for p in first["loc"]) or "line"
                    self.problems.append(f"line {number}: {where}: {first['msg']}")

    async def __aiter__(self) -> AsyncIterator[M]:
        for n, row in enumerate(self):
            if n % 1000 == 0:
                await asyncio.sleep(0)  # let the connection's keepalives breathe
            yield row


async def _run(path: Path, org_code: str, kind: str, tokens: Path | None) -> BulkReport:
    settings = get_settings()
    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            org = await get_organization_by_code(session, org_code)
            problems: list[str]
            if kind == "elders":
                elders = Rows(path, ElderCreate)
                report = await import_elders(
                    session,
                    organization_id=org.id,
                    rows=elders.__aiter__(),
                    issue_tokens=tokens is not None,
                )
                problems = elders.problems
            else:
                responders = Rows(path, ResponderImport)
                report = await import_responders(
                    session, organization_id=org.id, rows=list(responders)
                )
                problems = responders.problems
            if problems:
                await session.rollback()
                for problem in problems[:MAX_SHOWN]:
                    err.print(f"[red]{path.name}: {problem}[/red]")
                more = len(problems) - MAX_SHOWN
                if more > 0:
                    err.print(f"[red]… and {more} more[/red]")
                raise typer.Exit(1)
        return report
    finally:
        await engine.dispose()


def _write_tokens(path: Path, report: BulkReport) -> None:
    # The tokens are credentials: readable by their owner only, from the first byte.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["elder_id", "device_token"])
        writer.writerows((str(elder_id), token) for elder_id, token in report.tokens)


def _import(path: Path, org: str, kind: str, tokens: Path | None = None) -> BulkReport:
    try:
        return asyncio.run(_run(path, org, kind, tokens))
    except DomainError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        for problem in getattr(exc, "errors", [])[:MAX_SHOWN]:
            err.print(f"[red]  {'.'.join(str(p) for p in problem.loc)}: {problem.msg}[/red]")
        raise typer.Exit(2) from exc


@elders_app.command("import")
def elders_import(
    file: FileArg,
    org: OrgOpt,
    tokens: Annotated[
        Path | None,
        typer.Option(help="Issue a device token per elder and write them here (CSV, mode 600)"),
    ] = None,
) -> None:
    """Enrol elders from JSON Lines, each line a body of POST /v1/orgs/{id}/elders."""
    report = _import(file, org, "elders", tokens)
    if tokens is not None:
        _write_tokens(tokens, report)
    console.print(f"imported {report.elders} elders" + (f"; tokens in {tokens}" if tokens else ""))


@responders_app.command("import")
def responders_import(file: FileArg, org: OrgOpt) -> None:
    """Enrol responders from JSON Lines: a responder body with `password_hash` (Argon2id)
    in place of `password`, and their zone ids."""
    report = _import(file, org, "responders")
    console.print(f"imported {report.responders} responders (off duty until they go on)")
