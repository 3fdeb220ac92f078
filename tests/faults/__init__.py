"""The fault suite (issue 12): tests/stress's processes, people and load, on a PostgreSQL
of its own, while servers and the worker are SIGKILLed, PostgreSQL restarted, FCM and
the SMS gateway misbehave and phones retry; then the books, printed."""

from tests.faults.harness import FaultConfig, FaultReport, run_faults

__all__ = ["FaultConfig", "FaultReport", "run_faults"]
