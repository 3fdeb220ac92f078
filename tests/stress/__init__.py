"""A multi-actor stress run against real `phikat serve` and `phikat worker` processes."""

from tests.stress.harness import run_stress
from tests.stress.report import StressReport
from tests.stress.run import StressConfig

__all__ = ["StressConfig", "StressReport", "run_stress"]
