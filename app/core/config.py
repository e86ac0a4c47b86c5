import logging
from pathlib import Path

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEV_SECRET_KEY = "aftercare-development-secret-key-change-me-0123456789"  # noqa: S105

log = logging.getLogger("aftercare")


def default_database_url() -> str:
    return f"sqlite+aiosqlite:///{PROJECT_ROOT / 'var' / 'aftercare.db'}"


class Settings(BaseSettings):
    # extra="ignore": an unrelated variable in .env must not abort start-up.
    model_config = SettingsConfigDict(env_prefix="AFTERCARE_", env_file=".env", extra="ignore")

    database_url: str = ""
    secret_key: str = DEV_SECRET_KEY
    allow_private_webhooks: bool = False
    staff_token_minutes: int = 480  # one clinical shift
    patient_token_minutes: int = 15
    refresh_token_days: int = 90
    enrollment_code_hours: int = 72
    db_pool_size: int = 20
    db_echo: bool = False
    # Where partners reach this API; webhook payloads link to it. Unset: links are paths.
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

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> "Settings":
        # A send is bounded by the timeout; a lease shorter than that would let a second
        # worker send the same delivery while the first is still sending it.
        if self.webhook_lease_seconds <= 2 * self.webhook_timeout_seconds:
            raise ValueError("AFTERCARE_WEBHOOK_LEASE_SECONDS must exceed twice the timeout")
        return self

    def resolved_database_url(self) -> str:
        url = self.database_url or default_database_url()
        # A bare postgresql:// URL gets the driver bench/ measured fastest (see bench/README.md).
        if url.startswith(("postgresql://", "postgres://")):
            url = "postgresql+asyncpg://" + url.split("://", 1)[1]
        return url

    def warn_if_insecure(self) -> None:
        if self.secret_key == DEV_SECRET_KEY:
            message = (
                "AFTERCARE_SECRET_KEY is not set: using the DEVELOPMENT key. Tokens can be forged "
                "by anyone who reads the source. Set AFTERCARE_SECRET_KEY before real use."
            )
            log.warning("!!! %s !!!", message)
