"""A small deterministic simulator of phone fixes for the wander tests (seeded random).

Positions are metres east/north of home on a local plane; a test turns them into
longitude/latitude when it posts them.
"""

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class SimFix:
    at: datetime
    x: float  # metres east of home
    y: float  # metres north of home
    accuracy_m: float


def at_home(start: datetime, *, hours: float, every_s: float, seed: int) -> list[SimFix]:
    """A phone lying at home: 30-80 m jitter, and now and then a 500 m outlier."""
    rnd = random.Random(seed)
    fixes = []
    for i in range(int(hours * 3600 / every_s)):
        acc = rnd.uniform(30, 80)
        err = rnd.gauss(0, acc / 2)
        if rnd.random() < 0.02:  # an outlier, often claiming a fine accuracy
            err, acc = 500.0 + rnd.uniform(-50, 50), rnd.choice([25.0, 60.0, 400.0])
        angle = rnd.uniform(0, 2 * math.pi)
        fixes.append(
            SimFix(
                start + timedelta(seconds=i * every_s),
                err * math.cos(angle),
                err * math.sin(angle),
                acc,
            )
        )
    return fixes


def walk_away(
    start: datetime, *, minutes: float, every_s: float, seed: int, kmh: float = 4.0
) -> list[SimFix]:
    """Walking east from home at ``kmh``, fixes with 10-30 m noise."""
    rnd = random.Random(seed)
    speed = kmh / 3.6
    fixes = []
    for i in range(int(minutes * 60 / every_s)):
        t = i * every_s
        acc = rnd.uniform(10, 30)
        fixes.append(
            SimFix(
                start + timedelta(seconds=t),
                speed * t + rnd.gauss(0, acc / 3),
                rnd.gauss(0, acc / 3),
                acc,
            )
        )
    return fixes


def along_border(
    start: datetime, *, radius_m: float, minutes: float, every_s: float, seed: int
) -> list[SimFix]:
    """Walking around a circular zone on its border, at 4 km/h, noise 10-40 m."""
    rnd = random.Random(seed)
    speed = 4.0 / 3.6
    fixes = []
    for i in range(int(minutes * 60 / every_s)):
        t = i * every_s
        angle = speed * t / radius_m
        acc = rnd.uniform(10, 40)
        r = radius_m + rnd.gauss(0, acc / 3)
        fixes.append(
            SimFix(start + timedelta(seconds=t), r * math.cos(angle), r * math.sin(angle), acc)
        )
    return fixes


def lens_area(r1: float, r2: float, d: float) -> float:
    """Area of the intersection of two circles with radii r1, r2 and centres d apart."""
    if r1 <= 0 or r2 <= 0:
        return 0.0
    if d >= r1 + r2:
        return 0.0
    if d <= abs(r1 - r2):
        return math.pi * min(r1, r2) ** 2
    a = r1 * r1 * math.acos((d * d + r1 * r1 - r2 * r2) / (2 * d * r1))
    b = r2 * r2 * math.acos((d * d + r2 * r2 - r1 * r1) / (2 * d * r2))
    c = 0.5 * math.sqrt((-d + r1 + r2) * (d + r1 - r2) * (d - r1 + r2) * (d + r1 + r2))
    return a + b - c


def fractions(
    f: SimFix, zone_radius_m: float, leave_m: float, enter_m: float
) -> tuple[float, float]:
    """(outside share beyond the leaving margin, inside share within the entering margin)."""
    d = math.hypot(f.x, f.y)
    area = math.pi * f.accuracy_m**2
    outside = 1 - lens_area(f.accuracy_m, zone_radius_m + leave_m, d) / area
    inside = lens_area(f.accuracy_m, zone_radius_m - enter_m, d) / area
    return outside, inside
