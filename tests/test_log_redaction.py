"""No credentials in the logs: the redaction filter, and a real server's whole output."""

import logging
import sys
import tempfile
import uuid

import httpx
import pytest

from core.log_redaction import RedactSecrets, redact
from core.settings import Settings
from tests.factories import PASSWORD, World, bearer
from tests.live_support import ServerProcess

DEVICE = f"phk_dev_{uuid.uuid4().hex}.s3cr3t-Device_Secret"
REFRESH = f"phk_rt_{uuid.uuid4().hex}.s3cr3t-Refresh_Secret"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLXNlY3JldA"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"token {DEVICE} rejected", "s3cr3t-Device_Secret"),
        (f"refresh {REFRESH}", "s3cr3t-Refresh_Secret"),
        (f"header Authorization: Bearer {JWT}", "c2lnbmF0dXJlLXNlY3JldA"),
        ("Authorization: bearer opaque-value-123", "opaque-value-123"),
        ("POST body username=a@b.c&password=hunter2&x=1", "hunter2"),
        ("postgresql+psycopg://phikat:pg-Pa55@127.0.0.1:5432/phikat", "pg-Pa55"),
    ],
)
def test_secrets_are_redacted(text: str, secret: str) -> None:
    assert secret not in redact(text)
    assert "redacted" in redact(text)


def test_the_filter_rewrites_arguments_and_tracebacks() -> None:
    record = logging.LogRecord("t", logging.ERROR, __file__, 1, "login with %s", (JWT,), None)
    try:
        raise ValueError(f"bad token {DEVICE}")
    except ValueError:
        record.exc_info = sys.exc_info()
    RedactSecrets().filter(record)
    assert "c2lnbmF0dXJl" not in record.getMessage()
    assert record.exc_text is not None and "s3cr3t" not in record.exc_text


@pytest.mark.slow
async def test_a_server_logs_no_credential_it_was_sent(settings: Settings, world: World) -> None:
    with tempfile.TemporaryFile() as output:
        server = ServerProcess(settings, output, PHIKAT_LOG_LEVEL="DEBUG")
        try:
            async with httpx.AsyncClient(base_url=server.http) as http:
                login = await http.post(
                    "/v1/auth/token", data={"username": world.responder_email, "password": PASSWORD}
                )
                tokens = login.json()
                await http.post(
                    "/v1/auth/token",
                    data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                )
                await http.get("/v1/me", headers=bearer(tokens["access_token"]))
                await http.get("/v1/me", headers=world.elder)
                await http.post("/v1/sos", json={"trigger": "button"}, headers=world.elder)
                await http.post(
                    "/v1/auth/token",
                    data={"username": world.responder_email, "password": "wrong-pw"},
                )
                await http.get(f"/v1/me?token={tokens['access_token']}")
        finally:
            server.stop()
        output.seek(0)
        logged = output.read().decode(errors="replace")
    assert "GET /v1/me" in logged  # the access log was on
    secrets = [
        PASSWORD,
        "wrong-pw",
        tokens["access_token"],
        tokens["refresh_token"].partition(".")[2],
        world.elder["Authorization"].partition(".")[2],
        settings.secret_key.get_secret_value(),
    ]
    assert [s for s in secrets if s in logged] == []


def test_settings_never_print_the_database_password() -> None:
    settings = Settings(database_url="postgresql+psycopg://phikat:pg-Pa55@127.0.0.1/phikat")
    assert "pg-Pa55" not in repr(settings) and "pg-Pa55" not in str(settings)
    assert settings.database_url.endswith(":pg-Pa55@127.0.0.1/phikat")  # the value is intact
