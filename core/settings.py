"""Configuration from the environment (prefix ``PHIKAT_``)."""

import os
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.log_redaction import redact


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PHIKAT_", extra="ignore")

    database_url: str = "postgresql+psycopg://phikat@127.0.0.1:54329/phikat"
    db_pool_size: int = 10
    db_max_overflow: int = 20
    # When the database is slow or gone, answer 503 rather than hang: how long to wait
    # for a new connection and for a free one from the pool (a burst waits; an outage
    # is answered at once by the database watch, below); how long one
    # statement may run and wait for a row lock (server-side); TCP keepalives, so a
    # half-open connection after a failover is noticed in about idle + interval x count.
    db_connect_timeout_s: float = Field(default=2.0, gt=0, le=60)
    db_pool_timeout_s: float = Field(default=10.0, gt=0, le=60)
    db_statement_timeout_ms: int = Field(default=30_000, ge=0)
    db_lock_timeout_ms: int = Field(default=10_000, ge=0)
    db_keepalives_idle_s: int = Field(default=10, ge=1)
    db_keepalives_interval_s: int = Field(default=5, ge=1)
    db_keepalives_count: int = Field(default=3, ge=1)
    # Sent data unacknowledged this long drops the connection (a database gone silent).
    db_tcp_user_timeout_ms: int = Field(default=3000, ge=0)
    # While the database is unavailable: what an SOS is told to call when the phone's
    # organization is not known from an earlier answer, and when to try again.
    national_fallback_phone: str = "1669"
    # Each process probes the database this often; a probe slower than the timeout
    # marks it unavailable, and requests are answered 503 at once until one succeeds.
    db_watch_interval_s: float = Field(default=0.5, gt=0, le=60)
    db_watch_timeout_s: float = Field(default=1.0, gt=0, le=60)
    unavailable_retry_after_s: int = Field(default=5, ge=1, le=300)

    admin_email: str | None = None
    admin_password: SecretStr | None = None

    # Signs staff access tokens. The default is for local development only; the
    # service refuses to start with it unless ``allow_insecure_secret`` is set.
    secret_key: SecretStr = SecretStr("dev-insecure-secret-change-me")
    allow_insecure_secret: bool = False
    # Staff access tokens are short-lived; the apps renew them with a refresh token
    # (rotated on every use) that lasts while the phone is used at least once a fortnight.
    access_token_ttl_s: int = Field(default=900, ge=10)
    refresh_token_ttl_s: int = Field(default=14 * 24 * 3600, ge=60)
    refresh_reuse_grace_s: int = Field(default=30, ge=0)

    # Rate limits, per device or account, answered 429 + Retry-After. Each is a bucket of
    # that many requests refilled evenly over a minute. SOS: only presses that join an
    # active incident count against it (an SOS that opens one is never refused).
    sos_presses_per_min: int = Field(default=6, ge=1)
    locations_per_min: int = Field(default=30, ge=1)
    # Elder positions outside incidents (POST /v1/elders/me/positions): batches, so few.
    positions_per_min: int = Field(default=12, ge=1)
    offer_actions_per_min: int = Field(default=20, ge=1)

    # Request bodies above these sizes are refused with 413 before they are read.
    max_body_bytes: int = 256 * 1024
    max_zone_import_bytes: int = 4 * 1024 * 1024

    # Zone matching: how far (metres) a GPS fix's reported inaccuracy may reach
    # to match a zone that does not cover the point itself.
    zone_match_max_accuracy_m: float = 1000.0

    # The deadline worker (offer expiry, escalation) runs inside every `phikat serve`
    # unless disabled; `phikat worker` runs it alone. Any number may run at once.
    run_worker: bool = True
    worker_poll_s: float = Field(default=0.5, gt=0, le=10)

    # Live channel: the ETA's assumed speed, heartbeats, and how far a socket may lag
    # before it is closed (1011) and must resume with `after`.
    eta_speed_kmh: float = Field(default=30.0, gt=0, le=200)
    live_heartbeat_s: float = Field(default=20.0, gt=0)
    live_queue_batches: int = Field(default=1000, ge=1)
    live_send_timeout_s: float = Field(default=10.0, gt=0)
    live_poll_s: float = Field(default=5.0, gt=0)
    # WebSocket per-message deflate: off, because each socket would hold a zlib
    # compressor and decompressor (tens of KiB) and compress every frame for itself,
    # and the frames are small JSON (docs/decisions.md, "Live sockets without deflate").
    live_compression: bool = False

    # Browser origins allowed to call the API from another site (none by default: the
    # map is served by the API itself). In the environment, a JSON list.
    cors_origins: list[str] = []

    # The officers' map. An empty tiles URL draws zones and points on a plain background
    # (no internet needed); the libraries are served from web/node_modules (npm).
    map_tiles_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    map_tiles_attribution: str = "© OpenStreetMap contributors"
    web_assets_dir: str | None = None

    # Outgoing messages. Without FCM credentials pushes are logged, not sent (said loudly
    # at start); likewise SMS without a webhook URL. The endpoint setting exists for tests.
    # FCM credentials: the service-account file's path, or its JSON itself (a credential).
    fcm_credentials: str | None = None
    fcm_endpoint: str | None = None
    sms_webhook_url: str | None = None
    sms_template: str = '{"to": "{to}", "text": "{text}"}'
    sms_auth_header: SecretStr | None = None
    sender_poll_s: float = Field(default=0.2, gt=0, le=10)
    # Families on LINE: the Messaging API's base URL (tests point it at a local fake; each
    # organization's account and token are in the database), and how long a linking
    # code an officer shows a family contact stays valid.
    line_api_url: str = "https://api.line.me"
    line_link_code_ttl_s: int = Field(default=3600, ge=60, le=7 * 86400)
    # A sender leases the messages it sends for this long: a sender that dies mid-send
    # leaves them to the others after it (and may have sent them: at most once more).
    # Longer than a provider's timeout (10 s), short enough to resend an offer in time.
    sender_lease_s: float = Field(default=30.0, ge=2, le=600)
    # Messages in flight at once, per lane: pushes, and SMS (each SMS is one request).
    sender_push_concurrency: int = Field(default=1000, ge=1)
    sender_sms_concurrency: int = Field(default=20, ge=1)

    # PDPA: positions reported during an incident (its trail) are deleted this many days
    # after it closed; the sweep runs in every worker this often (any number may run).
    location_retention_days: int = Field(default=30, ge=1, le=3650)
    retention_sweep_s: float = Field(default=3600.0, gt=0)
    log_level: str = "INFO"
    # "json": one JSON object per line, with the incident id on lines about one.
    log_format: Literal["text", "json"] = "text"
    # /metrics answers this bearer token; without one, only clients on loopback.
    metrics_token: SecretStr | None = None

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # A settings object printed in a traceback or test report never shows the
        # database password (the other secrets are SecretStr already).
        for name, value in super().__repr_args__():
            yield name, redact(value) if name == "database_url" else value

    @property
    def uses_insecure_secret(self) -> bool:
        return self.secret_key.get_secret_value() == "dev-insecure-secret-change-me"


@lru_cache
def get_settings() -> Settings:
    # Under systemd, secrets arrive as credentials (LoadCredential=phikat_secret_key, …):
    # one file per setting in $CREDENTIALS_DIRECTORY, named like its variable in lower
    # case. A variable in the environment wins over a file (docs/production.md, "Secrets").
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    return Settings(_secrets_dir=credentials) if credentials else Settings()
