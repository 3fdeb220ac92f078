"""Secrets as systemd credentials (deploy/systemd, docs/production.md): each is a file
in $CREDENTIALS_DIRECTORY named like its setting, and the FCM service account may be
given as its JSON itself, which is what such a file holds."""

import uuid
from pathlib import Path

import pytest

from core.settings import Settings, get_settings
from notifications.channels.base import Delivery, Outcome
from notifications.channels.fcm import FcmChannel
from tests.fake_fcm import FakeGoogle, service_account_file
from tests.outbox_support import google

__all__ = ["google"]  # fixture

LOADED = Path(__file__).resolve().parents[1] / "deploy" / "systemd" / "phikat-serve@.service"


def credentials(directory: Path, **files: str) -> Path:
    """What systemd's LoadCredential= leaves for the service: one file per credential."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (directory / name).write_text(content + "\n")  # as `echo … > file` writes it
    return directory


def read_settings(monkeypatch: pytest.MonkeyPatch, directory: Path | None) -> Settings:
    for name in ("PHIKAT_SECRET_KEY", "PHIKAT_DATABASE_URL", "PHIKAT_FCM_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    if directory is None:
        monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    else:
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(directory))
    return get_settings.__wrapped__()  # not the process's cached settings


def test_settings_are_read_from_the_credentials_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "postgresql+psycopg://phikat:s3cret@db1:5432,db2:5432/phikat"
    directory = credentials(tmp_path / "creds", phikat_secret_key="k" * 48, phikat_database_url=url)
    settings = read_settings(monkeypatch, directory)
    assert settings.secret_key.get_secret_value() == "k" * 48  # the newline stripped
    assert settings.database_url == url
    assert not settings.uses_insecure_secret
    # A variable in the environment wins over the file.
    monkeypatch.setenv("PHIKAT_SECRET_KEY", "from-the-environment")
    assert get_settings.__wrapped__().secret_key.get_secret_value() == "from-the-environment"
    # Without a credentials directory, nothing is read from one.
    assert read_settings(monkeypatch, None).uses_insecure_secret


def test_the_units_load_every_secret_setting_by_its_file_name() -> None:
    """The names in the units are the names the settings read (phikat_<setting>)."""
    fields = set(type(get_settings()).model_fields)
    loaded = [
        line.removeprefix("LoadCredential=")
        for line in LOADED.read_text().splitlines()
        if line.startswith("LoadCredential=")
    ]
    assert loaded and all(n.startswith("phikat_") for n in loaded), loaded
    assert {n.removeprefix("phikat_") for n in loaded} <= fields
    assert {"secret_key", "database_url", "fcm_credentials"} <= {
        n.removeprefix("phikat_") for n in loaded
    }


async def test_an_fcm_service_account_given_as_a_credential_sends_pushes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, google: FakeGoogle
) -> None:
    account = service_account_file(tmp_path / "sa.json", f"{google.url}/token").read_text()
    directory = credentials(tmp_path / "creds", phikat_fcm_credentials=account)
    settings = read_settings(monkeypatch, directory)
    assert settings.fcm_credentials is not None
    channel = FcmChannel(credentials_path=settings.fcm_credentials, endpoint=google.url)
    token = f"tok-{uuid.uuid4().hex}"
    delivery = Delivery(
        message_id=uuid.uuid4(),
        address=token,
        title="test",
        body="test",
        data={"kind": "test", "incident_id": "", "offer_id": ""},
        ttl_s=60,
        urgent=True,
        platform="android",
    )
    try:
        assert await channel.send([delivery]) == [Outcome(ok=True)]
    finally:
        await channel.close()
    assert token in google.tokens_sent()
