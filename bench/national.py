"""Thailand-sized data, loaded through the project's own bulk paths (issue 17).

    scripts/bench national load            # the data set, into database phikat_national
    scripts/bench national zones           # zone match: service vs bare PostGIS vs STRtree

The country's extent (97.35-105.65 E, 5.6-20.45 N) is tiled by 75,000 village polygons
(a 250 x 300 grid whose shared vertices are jittered, eight vertices each), grouped into
77 provinces of 7 x 11 blocks, one organization each; 20,000 responders (zone teams and a
position in their village) and 500,000 elders with device tokens. Zones go through
``geo.bulk_import.import_features`` (what ``phikat zones import`` runs), people through
``dispatch.bulk`` (what ``phikat elders|responders import`` run). Seeded: every run
builds the same country.
"""

import argparse
import asyncio
import csv
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from bench.common import ROOT, bench_database, database_url, scratch_database
from core.db import create_engine, create_sessionmaker
from core.security import hash_password
from core.tenancy.schemas import OrganizationCreate
from core.tenancy.service import create_organization
from dispatch.bulk import import_elders, import_responders
from dispatch.enums import ResponderKind
from dispatch.inputs import ElderCreate, PointIn, ResponderImport
from geo.bulk_import import import_features

DATABASE = "phikat_national"
WEST, EAST, SOUTH, NORTH = 97.35, 105.65, 5.6, 20.45
COLS, ROWS = 250, 300  # 75,000 villages
PROVINCE_COLS, PROVINCE_ROWS = 7, 11  # 77 provinces
RESPONDERS, ELDERS = 20_000, 500_000
PROVINCES = PROVINCE_COLS * PROVINCE_ROWS
TOKENS = ROOT / ".data" / f"{bench_database(DATABASE)}-tokens.csv"


@dataclass(frozen=True)
class Country:
    vertices: list[list[tuple[float, float]]]  # (lon, lat) per grid corner

    def village(self, col: int, row: int) -> list[tuple[float, float]]:
        """The village's ring: its 4 corners and the midpoints of its 4 edges."""
        v = self.vertices
        corners = [v[row][col], v[row][col + 1], v[row + 1][col + 1], v[row + 1][col]]
        ring: list[tuple[float, float]] = []
        for a, b in zip(corners, corners[1:] + corners[:1], strict=True):
            ring += [a, ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)]
        return [*ring, ring[0]]

    def inside(self, col: int, row: int, rng: random.Random) -> tuple[float, float]:
        """A point well inside the village (around its centre)."""
        ring = self.village(col, row)[:-1]
        lon = sum(p[0] for p in ring) / len(ring)
        lat = sum(p[1] for p in ring) / len(ring)
        dx, dy = (EAST - WEST) / COLS, (NORTH - SOUTH) / ROWS
        return lon + rng.uniform(-0.2, 0.2) * dx, lat + rng.uniform(-0.2, 0.2) * dy


def build_country(seed: int = 17) -> Country:
    rng = random.Random(seed)
    dx, dy = (EAST - WEST) / COLS, (NORTH - SOUTH) / ROWS
    vertices = []
    for row in range(ROWS + 1):
        line = []
        for col in range(COLS + 1):
            inner = 0 < row < ROWS and 0 < col < COLS
            jx = rng.uniform(-0.25, 0.25) * dx if inner else 0.0
            jy = rng.uniform(-0.25, 0.25) * dy if inner else 0.0
            line.append((round(WEST + col * dx + jx, 6), round(SOUTH + row * dy + jy, 6)))
        vertices.append(line)
    return Country(vertices)


def province_of(col: int, row: int) -> int:
    pc = min(col * PROVINCE_COLS // COLS, PROVINCE_COLS - 1)
    pr = min(row * PROVINCE_ROWS // ROWS, PROVINCE_ROWS - 1)
    return pr * PROVINCE_COLS + pc


def villages_of(province: int) -> Iterator[tuple[int, int]]:
    for row in range(ROWS):
        for col in range(COLS):
            if province_of(col, row) == province:
                yield col, row


def feature(country: Country, col: int, row: int) -> dict[str, Any]:
    return {
        "type": "Feature",
        "properties": {"name": f"หมู่บ้าน {col}-{row}", "kind": "village"},
        "geometry": {"type": "Polygon", "coordinates": [country.village(col, row)]},
    }


@dataclass(frozen=True)
class Size:
    """How much of the country to load (a smoke run: a few provinces, a few people)."""

    provinces: int = PROVINCES
    responders: int = RESPONDERS
    elders: int = ELDERS


def share(total: int, provinces: int, province: int) -> int:
    return total // provinces + (province < total % provinces)


async def load(url: str, size: Size = Size()) -> None:
    country = build_country()
    engine = create_engine(url, pool_size=2)
    sessionmaker = create_sessionmaker(engine)
    rng = random.Random(1)
    password_hash = hash_password("national-bench-password")
    started = time.perf_counter()
    timings = {"zones": 0.0, "responders": 0.0, "elders": 0.0}
    TOKENS.parent.mkdir(exist_ok=True)
    fd = os.open(TOKENS, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", newline="") as out:
        tokens = csv.writer(out)
        tokens.writerow(["organization_id", "elder_id", "device_token", "lat", "lon"])
        for province in range(size.provinces):
            villages = list(villages_of(province))
            async with sessionmaker() as session, session.begin():
                org = await create_organization(
                    session,
                    data=OrganizationCreate(name=f"จังหวัด {province + 1}", code=f"p{province + 1}"),
                )
                t = time.perf_counter()
                report = await import_features(
                    session,
                    organization_id=org.id,
                    features=(feature(country, c, r) for c, r in villages),
                    repair=False,
                    skip_invalid=False,
                )
                assert not report.problems, report.problems[:3]
                zone_ids = dict(zip(villages, report.imported, strict=True))
                timings["zones"] += time.perf_counter() - t

                t = time.perf_counter()
                count = share(size.responders, size.provinces, province)
                homes = [villages[rng.randrange(len(villages))] for _ in range(count)]
                responders = [
                    ResponderImport(
                        name=f"อสม. {province}-{n}",
                        email=f"r{province}-{n}@national.example.org",
                        password_hash=password_hash,
                        phone="0812345678",
                        kind=ResponderKind.VOLUNTEER,
                        zone_ids=[zone_ids[home]],
                    )
                    for n, home in enumerate(homes)
                ]
                enrolled = await import_responders(session, organization_id=org.id, rows=responders)
                spots = [country.inside(*home, rng) for home in homes]
                # Positions are live data, not enrolment: set as a phone's post would.
                await session.execute(
                    text(
                        "update responder r set on_duty = true, last_location = "
                        "ST_SetSRID(ST_MakePoint(v.lon, v.lat), 4326), last_location_at = now()"
                        " from (select unnest(cast(:ids as uuid[])) id, unnest(cast(:lons as"
                        " float8[])) lon, unnest(cast(:lats as float8[])) lat) v where r.id = v.id"
                    ),
                    {
                        "ids": [str(i) for i in enrolled.responder_ids],
                        "lons": [lon for lon, _ in spots],
                        "lats": [lat for _, lat in spots],
                    },
                )
                timings["responders"] += time.perf_counter() - t

                t = time.perf_counter()
                count = share(size.elders, size.provinces, province)
                places = [
                    country.inside(*villages[rng.randrange(len(villages))], rng)
                    for _ in range(count)
                ]
                elders = (
                    ElderCreate(
                        name=f"ผู้สูงอายุ {province}-{n}",
                        home=PointIn(lat=lat, lon=lon),
                        dependency_group=1 + n % 3,
                        conditions=["ความดันโลหิตสูง"] if n % 4 == 0 else [],
                        contacts=[{"name": "ลูก", "phone": "0810000000", "relation": "child"}],
                    )
                    for n, (lon, lat) in enumerate(places)
                )
                elders_in = await import_elders(
                    session, organization_id=org.id, rows=elders, issue_tokens=True
                )
                for (elder_id, token), (lon, lat) in zip(elders_in.tokens, places, strict=True):
                    tokens.writerow([org.id, elder_id, token, f"{lat:.6f}", f"{lon:.6f}"])
                timings["elders"] += time.perf_counter() - t
            print(f"province {province + 1}/{size.provinces}: {len(villages)} villages", flush=True)
    async with engine.begin() as conn:
        await conn.execute(text("analyze"))
    await engine.dispose()
    total = time.perf_counter() - started
    parts = ", ".join(f"{what} {seconds:.0f} s" for what, seconds in timings.items())
    print(f"\nloaded in {total:.0f} s: {parts}")
    print(f"device tokens: {TOKENS}")


def national_url() -> str:
    return database_url(DATABASE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=["load", "zones"])
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--provinces", type=int, default=PROVINCES, help="load only the first N")
    parser.add_argument("--responders", type=int, default=RESPONDERS)
    parser.add_argument("--elders", type=int, default=ELDERS)
    args = parser.parse_args()
    if args.what == "load":
        size = Size(min(args.provinces, PROVINCES), args.responders, args.elders)
        asyncio.run(load(scratch_database(DATABASE), size))
    else:
        from bench.zone_match import run

        asyncio.run(run(national_url(), points=args.points))


if __name__ == "__main__":
    main()
