"""Issue 12's fault suite, short: real processes under load while a server and the worker
(mid-send) are SIGKILLed, PostgreSQL is stopped fast and immediate, FCM answers 500, 503
and 429 and hangs, and the SMS gateway is slow; then the books: every SOS in exactly
once (those a fault hit, on the phone's retry), every incident and offer settled, every
deadline fired once, every message sent once or twice or failed with an event, every
socket complete. The harness is tests/faults/; longer runs: scripts/faults."""

from pathlib import Path

import pytest

from tests.faults import FaultConfig, run_faults


@pytest.mark.slow
async def test_the_books_balance_after_crashes_restarts_and_outages(tmp_path: Path) -> None:
    report = await run_faults(FaultConfig(cycles=1, log_dir=tmp_path / "faults"))
    print(report.summary())
    assert not report.failed, report.summary()
    names = " ".join(str(f["fault"]) for f in report.faults)
    for fault in ("SIGKILL server", "SIGKILL worker", "-m fast", "-m immediate", "FCM answers"):
        assert fault in names
