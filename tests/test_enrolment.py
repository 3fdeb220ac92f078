"""Bulk enrolment (`phikat elders import`, `phikat responders import`) as a real process:
all or nothing, rows validated as the API validates them, the tokens usable at once."""

import csv
import json
import stat
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.security import hash_password, verify_password
from core.settings import Settings
from core.tenancy.models import User
from dispatch.models import Elder, Responder, ResponderZone
from tests.factories import NORTH_HOME, World, bearer
from tests.helpers import db_fingerprint
from tests.test_cli import run_phikat

Maker = async_sessionmaker[AsyncSession]


def elder_line(n: int, **changes: Any) -> str:
    body = {
        "name": f"ยายทดสอบ {n}",
        "home": {"lat": NORTH_HOME[0] + n * 1e-5, "lon": NORTH_HOME[1]},
        "dependency_group": 1 + n % 3,
        "conditions": ["เบาหวาน"] if n % 2 else [],
        "contacts": [{"name": "ลูก", "phone": "0810000000", "relation": "son"}],
        **changes,
    }
    return json.dumps(body, ensure_ascii=False)


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def elders_of(sessionmaker: Maker, world: World) -> int:
    async with sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(Elder).where(Elder.organization_id == world.org_id)
        )
        return int(count or 0)


async def test_elders_import_all_with_tokens_that_press_sos_at_once(
    client: httpx.AsyncClient,
    settings: Settings,
    sessionmaker: Maker,
    world: World,
    tmp_path: Path,
) -> None:
    before = await elders_of(sessionmaker, world)
    source = write(tmp_path / "elders.jsonl", [elder_line(n) for n in range(300)])
    tokens = tmp_path / "tokens.csv"
    result = run_phikat(
        "elders",
        "import",
        str(source),
        "--org",
        world.org_code,
        "--tokens",
        str(tokens),
        database_url=settings.database_url,
    )
    assert result.returncode == 0, result.stderr
    assert "imported 300 elders" in result.stdout
    assert await elders_of(sessionmaker, world) == before + 300
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o600
    with tokens.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 300 and len({r["device_token"] for r in rows}) == 300
    pressed = await client.post(
        "/v1/sos",
        json={},
        headers={**bearer(rows[17]["device_token"]), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert pressed.status_code == 201, pressed.text
    async with sessionmaker() as session:
        elder = await session.get(Elder, uuid.UUID(rows[17]["elder_id"]))
    assert elder is not None and elder.contacts == [
        {"name": "ลูก", "phone": "0810000000", "relation": "son", "notify": "line"}
    ]


async def test_one_bad_line_imports_nothing_and_names_the_line(
    settings: Settings, sessionmaker: Maker, world: World, tmp_path: Path
) -> None:
    lines = [elder_line(n) for n in range(50)]
    lines[7] = elder_line(7, dependency_group=9)
    lines[31] = elder_line(31, home={"lat": 95, "lon": 100})
    lines[40] = "{not json"
    source = write(tmp_path / "bad.jsonl", lines)
    fingerprint = await db_fingerprint(sessionmaker)
    result = run_phikat(
        "elders",
        "import",
        str(source),
        "--org",
        world.org_code,
        database_url=settings.database_url,
    )
    assert result.returncode == 1
    assert "line 8: dependency_group" in result.stderr
    assert "line 32: home.lat" in result.stderr
    assert "line 41" in result.stderr
    assert await db_fingerprint(sessionmaker) == fingerprint


async def test_responders_import_with_their_zone_teams(
    settings: Settings, sessionmaker: Maker, world: World, tmp_path: Path
) -> None:
    password_hash = hash_password("bulk-responder-password")
    north = str(world.zone_ids["North"])
    code = uuid.uuid4().hex[:6]

    def line(n: int, **changes: Any) -> str:
        body = {
            "name": f"อสม. {n}",
            "email": f"Bulk-{code}-{n}@Example.org",
            "password_hash": password_hash,
            "phone": "0812223333",
            "kind": "volunteer",
            "zone_ids": [north],
            **changes,
        }
        return json.dumps(body, ensure_ascii=False)

    fingerprint = await db_fingerprint(sessionmaker)
    unknown_zone = write(tmp_path / "a.jsonl", [line(0), line(1, zone_ids=[str(uuid.uuid4())])])
    twice = write(tmp_path / "b.jsonl", [line(0), line(0)])
    plaintext = write(tmp_path / "c.jsonl", [line(0, password_hash="hunter2hunter2")])
    for source, code_expected, said in (
        (unknown_zone, 2, "not zones of this organization"),
        (twice, 2, "appears twice"),
        (plaintext, 1, "password_hash"),
    ):
        refused = run_phikat(
            "responders",
            "import",
            str(source),
            "--org",
            world.org_code,
            database_url=settings.database_url,
        )
        assert refused.returncode == code_expected, refused.stderr
        assert said in refused.stderr
        assert await db_fingerprint(sessionmaker) == fingerprint

    good = write(tmp_path / "good.jsonl", [line(n) for n in range(40)])
    result = run_phikat(
        "responders",
        "import",
        str(good),
        "--org",
        world.org_code,
        database_url=settings.database_url,
    )
    assert result.returncode == 0, result.stderr
    async with sessionmaker() as session:
        user = await session.scalar(select(User).where(User.email == f"bulk-{code}-3@example.org"))
        assert user is not None and verify_password(user.password_hash, "bulk-responder-password")
        responder = await session.get(Responder, user.id)
        assert responder is not None and responder.on_duty is False
        team = await session.scalars(
            select(ResponderZone.zone_id).where(ResponderZone.responder_id == user.id)
        )
        assert list(team) == [world.zone_ids["North"]]
    again = run_phikat(
        "responders",
        "import",
        str(good),
        "--org",
        world.org_code,
        database_url=settings.database_url,
    )
    assert again.returncode == 2 and "already accounts" in again.stderr
