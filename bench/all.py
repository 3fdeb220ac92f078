"""The whole national-scale benchmark of issue 17, one figure after the other.

    scripts/bench all            # full size: under 15 minutes on the 2-core machine
    scripts/bench all --smoke    # tiny data, every script once (the test suite runs it)

Each part runs as its own process (``python -m bench.NAME``), as a person would run it
alone, and prints its own figures beside their floors; this prints how long each took.
The data set is loaded first (``national load``); a smoke run loads two provinces into
databases of its own (``PHIKAT_BENCH_PREFIX``), so it never drops a full data set.
"""

import argparse
import os
import shlex
import subprocess
import sys
import time

# (name, the full run's arguments, the smoke run's arguments)
PARTS: list[tuple[str, str, str]] = [
    ("national", "load", "load --provinces 2 --responders 200 --elders 2000"),
    ("national", "zones", "zones --points 100"),
    ("list_statements", "", "--sizes 2 10"),
    (
        "sos_to_offer",
        "",
        "--rate 5 --seconds 3 --steps 2 --step-seconds 2 --drain 10 --servers 1",
    ),
    ("surge", "", "--sos 60 --seconds 3 --servers 1 --wait 30"),
    ("fanout", "", "--officers 20 --no-mosquitto"),
    ("locations", "", "--responders 40 --seconds 3 --servers 1"),
    ("outbox", "", "--messages 200 --sos 3 --workers 1"),
]
SMOKE_PREFIX = "smoke_"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny data, every part once")
    args = parser.parse_args()
    env = dict(os.environ)
    if args.smoke:
        env["PHIKAT_BENCH_PREFIX"] = env.get("PHIKAT_BENCH_PREFIX", "") + SMOKE_PREFIX
    took: list[tuple[str, float, int]] = []
    started = time.perf_counter()
    for name, full, smoke in PARTS:
        arguments = shlex.split(smoke if args.smoke else full)
        command = " ".join([name, *arguments])
        print(f"\n=== scripts/bench {command}", flush=True)
        t = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", f"bench.{name}", *arguments], env=env)
        took.append((command, time.perf_counter() - t, code))
    total = time.perf_counter() - started
    print("\n| part | took | exit |\n| --- | --- | --- |")
    for command, seconds, code in took:
        print(f"| {command} | {seconds:.0f} s | {code} |")
    print(f"| **all** | **{total / 60:.1f} min** | |")
    sys.exit(max(code for _, _, code in took))


if __name__ == "__main__":
    main()
