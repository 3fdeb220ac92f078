"""A longer stress run for the figures: ``scripts/stress --rounds 1000``.

Uses PHIKAT_TEST_DATABASE_URL's server with a database of its own (dropped and
migrated afresh), and prints the report; exits 1 if any check failed.
"""

import argparse
import asyncio
import os
import secrets
import sys
import tempfile
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from core.migrations import upgrade_to_head
from core.settings import Settings
from tests.stress import StressConfig, run_stress


def _fresh_database(base_url: str, name: str) -> str:
    url = make_url(base_url).set(database=name)
    maintenance = url.set(drivername="postgresql", database="postgres")
    with psycopg.connect(maintenance.render_as_string(hide_password=False), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    rendered = url.render_as_string(hide_password=False)
    upgrade_to_head(rendered)
    return rendered


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--max-load-s", type=float, default=600.0)
    parser.add_argument("--round-interval-s", type=float, default=0.15)
    parser.add_argument("--elders", type=int, default=16)
    parser.add_argument("--responders", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--database", default="phikat_stress", help="scratch database name")
    parser.add_argument("--log-dir", type=Path, default=None)
    args = parser.parse_args()
    base = os.environ.get("PHIKAT_TEST_DATABASE_URL") or os.environ.get("PHIKAT_DATABASE_URL")
    if not base:
        sys.exit("set PHIKAT_DATABASE_URL (scripts/stress does)")
    settings = Settings(
        database_url=_fresh_database(base, args.database),
        secret_key=secrets.token_urlsafe(32),
        run_worker=False,
    )
    config = StressConfig(
        rounds=args.rounds,
        max_load_s=args.max_load_s,
        round_interval_s=args.round_interval_s,
        elders=args.elders,
        responders=args.responders,
        seed=args.seed,
        log_dir=args.log_dir or Path(tempfile.mkdtemp(prefix="phikat-stress-")),
    )
    report = asyncio.run(run_stress(settings, config))
    print(report.summary(limit=40))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
