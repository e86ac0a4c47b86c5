from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The checkout (tests and developer tools read openapi/ and the like there). An installed
# service never writes here: its data lives in the data directory (Settings.resolved_data_dir).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATABASE_FILE = "aftercare.db"
# An integration client's token lives minutes at most (client_token_seconds).
CLIENT_TOKEN_SECONDS = 300
MAX_CLIENT_TOKEN_SECONDS = 300
MIN_SECRET_BYTES = 32  # HS256: a key shorter than the hash is weaker than it (RFC 7518 3.2)
# Words that mark a key copied from an example. The first entry is the development key this
# service once shipped in its source: tokens signed with it must never verify again.
_PLACEHOLDERS = (
    "aftercare-development-secret-key",
    "changeme",
    "change-me",
    "change_me",
    "replace-me",
    "your-secret",
    "placeholder",
    "example",
)


def default_database_url(data_dir: Path) -> str:
    return f"sqlite+aiosqlite:///{data_dir / DATABASE_FILE}"


class Settings(BaseSettings):
    # extra="ignore": an unrelated variable in .env must not abort start-up.
    model_config = SettingsConfigDict(env_prefix="AFTERCARE_", env_file=".env", extra="ignore")

    # Unset: ./var of the working directory (the project's var/ when run from the checkout, as
    # the README does). Not the install directory: a wheel's site-packages may be read-only,
    # and is replaced by the next install. Holds the SQLite file and the FHIR export files.
    data_dir: str = ""
    # Unset: SQLite in <data dir>/aftercare.db.
    database_url: str = ""
    # Unset: the first start generates a key and keeps it in the database (core/keyring.py).
    secret_key: str = ""
    allow_private_webhooks: bool = False
    staff_token_minutes: int = 480  # one clinical shift
    patient_token_minutes: int = 15
    # An integration client's access token (the client credentials grant): a stolen one is
    # good for minutes at most, and the client asks again as often as it needs.
    client_token_seconds: int = Field(
        default=CLIENT_TOKEN_SECONDS, ge=60, le=MAX_CLIENT_TOKEN_SECONDS
    )
    refresh_token_days: int = 90
    enrollment_code_hours: int = 72
    db_pool_size: int = 20
    db_echo: bool = False
    # `serve` and `worker` wait this long for an unreachable PostgreSQL (started together with
    # it, say) before giving up; 0: give up at once. A missing database is never waited for.
    database_wait_seconds: float = Field(default=60.0, ge=0)
    # Where partners reach this API (the externally visible base URL, behind a proxy):
    # webhook payloads link to it, and the token endpoint's URL (a client assertion's `aud`,
    # the OAuth and SMART metadata) is made from it. Unset: links are paths, and the token
    # endpoint's URL comes from the request (its Host header).
    public_base_url: str = ""
    # The worker (`aftercare worker`, or inside `aftercare serve`).
    worker_poll_seconds: float = 1.0
    worker_batch: int = 100
    worker_concurrency: int = 16
    webhook_timeout_seconds: float = 10.0
    # A claimed delivery is another worker's to retry only after this: far longer than one send
    # may take (the timeout bounds it), so no attempt is ever sent twice at once.
    webhook_lease_seconds: float = 60.0
    webhook_retry_hours: float = 24.0
    # Audit events older than this are deleted by the worker; the database refuses to delete
    # younger ones, and never less than six years (migration 0007).
    audit_retention_days: int = Field(default=2192, ge=2192)
    # The edge (issue 12). Empty rate_limit_url: counters in this process's memory;
    # redis://host:port/db shares them between instances.
    rate_limit_url: str = ""
    login_failures_per_account_per_minute: int = Field(default=5, ge=1)
    auth_attempts_per_address_per_minute: int = Field(default=30, ge=1)
    # Each argon2 hash holds 64 MiB: a flood of logins must queue, not exhaust memory.
    # Two: about 240 MB at the peak of a flood, and the CPU of both cores of a small machine.
    password_hash_concurrency: int = Field(default=2, ge=1)
    reports_per_caller_per_minute: int = Field(default=120, ge=1)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_batch_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    webhook_endpoints_per_clinic: int = Field(default=20, ge=1)
    # Per endpoint across all workers: one slow receiver holds at most this many send slots.
    webhook_in_flight_per_endpoint: int = Field(default=8, ge=1)
    webhook_disable_after_hours: float = Field(default=72.0, gt=0)
    # A block is 14 days of follow-up: a patient reporting hourly makes about 340 reports.
    reports_per_block_cap: int = Field(default=1000, ge=1)
    chart_max_points: int = Field(default=400, ge=10)
    # Timeline pages, block summaries and charts kept in memory, per process, keyed by the
    # blocks' revisions (app/core/view_cache.py). 0 turns the cache off.
    view_cache_mb: int = Field(default=64, ge=0)
    # The reverse proxies (addresses, comma-separated) whose X-Forwarded-For is believed.
    forwarded_allow_ips: str = ""
    # auto: a readable line on a terminal, JSON otherwise.
    log_format: Literal["auto", "json", "console"] = "auto"
    # FHIR bulk export files (patient data: made 0700/0600). Unset: "exports" beside the
    # SQLite file, or <data dir>/exports for PostgreSQL. Each API instance serving
    # downloads and each worker must see the same directory.
    export_dir: str = ""
    export_retention_hours: float = Field(default=24.0, gt=0)
    # GET /metrics. Unset: loopback callers only, and nobody once forwarded_allow_ips is set.
    # Set: every caller must send it as a bearer token (app/metrics/service.py).
    metrics_token: str = ""

    @model_validator(mode="after")
    def _rate_limit_url_is_redis(self) -> "Settings":
        if self.rate_limit_url and not self.rate_limit_url.startswith(("redis://", "rediss://")):
            raise ValueError("AFTERCARE_RATE_LIMIT_URL must be empty or a redis:// URL")
        # Checked here, not when the first request is counted: the limits library's own
        # complaint quotes the whole URL, password and all.
        try:
            parsed = urlsplit(self.rate_limit_url)
            parsed.port  # noqa: B018 - read for its ValueError: a port that is not a number
        except ValueError:
            raise ValueError(
                "AFTERCARE_RATE_LIMIT_URL is not a URL (a port from 0 to 65535?): "
                "redis://[:password@]host[:port][/db]"
            ) from None
        return self

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> "Settings":
        # A send is bounded by the timeout; a lease shorter than that would let a second
        # worker send the same delivery while the first is still sending it.
        if self.webhook_lease_seconds <= 2 * self.webhook_timeout_seconds:
            raise ValueError("AFTERCARE_WEBHOOK_LEASE_SECONDS must exceed twice the timeout")
        return self

    @model_validator(mode="after")
    def _secret_key_is_strong(self) -> "Settings":
        reason = weak_secret_reason(self.secret_key) if self.secret_key else None
        if reason:
            raise ValueError(
                f"AFTERCARE_SECRET_KEY {reason}: set it to at least {MIN_SECRET_BYTES} random "
                "bytes (e.g. `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`), "
                "or unset it to have a key generated and kept in the database"
            )
        return self

    @model_validator(mode="after")
    def _metrics_token_is_strong(self) -> "Settings":
        reason = weak_secret_reason(self.metrics_token) if self.metrics_token else None
        if reason:
            raise ValueError(f"AFTERCARE_METRICS_TOKEN {reason}: unset it, or use a random one")
        return self

    def resolved_database_url(self) -> str:
        url = self.database_url or default_database_url(self.resolved_data_dir())
        # A bare postgresql:// URL gets the driver bench/ measured fastest (see bench/README.md).
        if url.startswith(("postgresql://", "postgres://")):
            url = "postgresql+asyncpg://" + url.split("://", 1)[1]
        # SQLAlchemy's bare sqlite:// is its blocking driver, which the async engine refuses.
        elif url.startswith("sqlite://"):
            url = "sqlite+aiosqlite://" + url.split("://", 1)[1]
        return url

    def resolved_export_dir(self) -> Path:
        if self.export_dir:
            return Path(self.export_dir)
        # Imported here: db.py is the engine's module and config is imported before it.
        from app.core.db import sqlite_file

        database = sqlite_file(self.resolved_database_url())
        return database.parent / "exports" if database else self.resolved_data_dir() / "exports"

    def resolved_data_dir(self) -> Path:
        # Absolute, so that a later change of working directory moves nothing.
        return Path(self.data_dir or "var").absolute()


def weak_secret_reason(secret: str) -> str | None:
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return f"is shorter than {MIN_SECRET_BYTES} bytes"
    lowered = secret.lower()
    if any(word in lowered for word in _PLACEHOLDERS):
        return "is a placeholder from an example"
    if len(set(secret)) < 10:
        return "repeats too few characters to be random"
    return None
