"""The long fault run for the figures: ``scripts/faults --cycles 5``; the failover drill's
figures: ``scripts/faults --failover``. Needs no database: it makes a throw-away PostGIS
cluster of its own (and its standby). Exits 1 if any check failed."""

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from tests.faults import FaultConfig, run_faults


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=5, help="the schedule of faults, N times")
    parser.add_argument("--elders", type=int, default=16)
    parser.add_argument("--responders", type=int, default=20)
    parser.add_argument("--round-interval-s", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--log-dir", type=Path, default=None)
    parser.add_argument("--failover", action="store_true", help="the failover drill instead")
    parser.add_argument(
        "--only-primary", action="store_true", help="the drill, the service told the primary only"
    )
    parser.add_argument(
        "--promote-first", action="store_true", help="the drill: promote, then stop the primary"
    )
    args = parser.parse_args()
    config = FaultConfig(
        cycles=args.cycles,
        elders=args.elders,
        responders=args.responders,
        round_interval_s=args.round_interval_s,
        seed=args.seed,
        failover=args.failover or args.only_primary or args.promote_first,
        promote_first=args.promote_first,
        only_primary=args.only_primary,
        log_dir=args.log_dir or Path(tempfile.mkdtemp(prefix="phikat-faults-")),
    )
    report = asyncio.run(run_faults(config))
    print(report.summary(limit=40))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
