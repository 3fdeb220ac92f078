"""The demo's closing summary and the simulator's logging, without a server."""

import logging
import uuid

import pytest

from api.demo import DemoLogins, logins_summary
from api.simulator import quiet_http_client_logs, step

RESPONDERS = [
    *(f"cg{i}@thakhantho.demo" for i in range(1, 6)),
    "cm1@thakhantho.demo",
    "cm2@thakhantho.demo",
    *(f"osm{i}@thakhantho.demo" for i in range(1, 5)),
    "rescue1@thakhantho.demo",
]


def logins(responders: list[str]) -> DemoLogins:
    return DemoLogins(
        officer_email="officer@thakhantho.demo",
        password="pw-123",
        responder_emails=responders,
        sample_device_token="phk_dev_x.y",
        sample_elder="ยายสมศรี ศรีสุข",
        created=False,
    )


@pytest.mark.parametrize("simulating", [True, False])
def test_the_summary_fits_one_screen(simulating: bool) -> None:
    lines = logins_summary(logins(RESPONDERS), "http://127.0.0.1:8000", simulating=simulating)
    assert len(lines) + 2 <= 20  # with its two rules
    text = "\n".join(lines)
    assert "http://127.0.0.1:8000/map" in text
    assert "officer@thakhantho.demo" in text and "pw-123" in text
    assert "cg1-5, cm1-2, osm1-4, rescue1 (@thakhantho.demo)" in text
    # Every line but the curl fits 80 columns (rich markup aside).
    plain = [line.replace("[bold]", "").replace("[/bold]", "") for line in lines]
    assert [line for line in plain if len(line) > 80 and "curl" not in line] == []


def test_logins_that_do_not_compress_are_listed_as_they_are() -> None:
    odd = ["alice@a.demo", "bob2@b.demo"]
    text = "\n".join(logins_summary(logins(odd), "http://h", simulating=False))
    assert "alice@a.demo, bob2@b.demo" in text
    gaps = ["cg1@x.demo", "cg3@x.demo"]
    assert "cg1, cg3 (@x.demo)" in "\n".join(logins_summary(logins(gaps), "h", simulating=False))


def test_a_step_is_one_line_naming_its_incident(caplog: pytest.LogCaptureFixture) -> None:
    incident = uuid.uuid4()
    with caplog.at_level(logging.INFO, logger="phikat.simulator"):
        step(str(incident), "accepted by %s", "cg1")
    [record] = caplog.records
    assert record.getMessage() == "accepted by cg1"
    assert record.incident_id == str(incident)  # type: ignore[attr-defined]


def test_httpx_request_lines_are_silenced() -> None:
    httpx_log = logging.getLogger("httpx")
    before = httpx_log.level
    try:
        httpx_log.setLevel(logging.INFO)  # as under the demo's root logger at INFO
        quiet_http_client_logs()
        assert not httpx_log.isEnabledFor(logging.INFO)
        assert httpx_log.isEnabledFor(logging.WARNING)
    finally:
        httpx_log.setLevel(before)
