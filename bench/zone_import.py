"""Streaming zone import: throughput and peak memory of ``phikat zones import``.

Runs the real command on two generated files, one ten times the other, and
prints features/s and the child's peak RSS for each: streaming means the peak
barely grows with the file.

    scripts/bench zone_import [--features 20000]
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from bench.common import scratch_database


def write_file(path: Path, count: int) -> None:
    side = int(count**0.5) + 1
    with path.open("w") as f:
        f.write('{"type": "FeatureCollection", "features": [\n')
        for i in range(count):
            x, y = 100 + (i % side) * 0.001, 14 + (i // side) * 0.001
            # 64-vertex rings: closer to real village boundaries than squares
            radius = [0.0004 * (1 + 0.2 * (k % 3)) for k in range(64)]
            ring = [
                [
                    x + radius[k] * math.cos(k / 64 * math.tau),
                    y + radius[k] * math.sin(k / 64 * math.tau),
                ]
                for k in range(64)
            ]
            ring.append(ring[0])
            feature = {
                "type": "Feature",
                "properties": {"name": f"บ้าน {i}"},
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
            f.write(("," if i else "") + json.dumps(feature, ensure_ascii=False) + "\n")
        f.write("]}\n")


def run_import(url: str, path: Path, org: str) -> tuple[float, float]:
    env = {**os.environ, "PHIKAT_DATABASE_URL": url}
    start = time.perf_counter()
    # A fresh process per run, so the peak RSS is this import's alone.
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import resource, sys; from api.cli import main; sys.argv = sys.argv[1:]\n"
            "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
            "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)",
            "phikat",
            "zones",
            "import",
            str(path),
            "--org",
            org,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    peak = next(
        line.split()[1] for line in result.stdout.splitlines() if line.startswith("PEAK_RSS_KB")
    )
    if "imported" not in result.stdout:
        raise RuntimeError(result.stdout + result.stderr)
    return elapsed, int(peak) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--features", type=int, default=20000)
    args = parser.parse_args()
    url = scratch_database("phikat_bench_import")
    admin = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            "insert into organization (id, name, code, fallback_phone, timezone) values "
            "(gen_random_uuid(), 'Bench', 'bench', '1669', 'Asia/Bangkok')"
        )
    with tempfile.TemporaryDirectory() as tmp:
        small, large = Path(tmp, "small.geojson"), Path(tmp, "large.geojson")
        write_file(small, args.features // 10)
        write_file(large, args.features)
        for label, path, count in (
            ("small", small, args.features // 10),
            ("large", large, args.features),
        ):
            elapsed, peak_mb = run_import(url, path, "bench")
            size_mb = path.stat().st_size / 1e6
            print(
                f"{label:<6} {count:>7} features {size_mb:7.1f} MB  {elapsed:6.1f} s  "
                f"{count / elapsed:8.0f} features/s  peak RSS {peak_mb:6.1f} MB"
            )


if __name__ == "__main__":
    main()
