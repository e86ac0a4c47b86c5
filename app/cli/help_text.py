"""The environment variables each command's help names (README.md lists every setting)."""

from app.core.config import Settings

_MEANING = {
    "DATABASE_URL": "the database; unset: SQLite in the data directory",
    "DATA_DIR": "the SQLite database and export files; unset: ./var",
    "SECRET_KEY": "token signing key; unset: generated once and kept in the database",
    "DATABASE_WAIT_SECONDS": "how long serve and worker wait for PostgreSQL to answer (60)",
    "PUBLIC_BASE_URL": "the address clients use (behind a proxy); links are made from it",
    "FORWARDED_ALLOW_IPS": "the reverse proxies whose X-Forwarded-For is believed",
    "RATE_LIMIT_URL": "redis:// URL shared by several instances; unset: in memory",
    "WORKER_CONCURRENCY": "webhook sends one worker makes at once (16)",
    "WORKER_POLL_SECONDS": "how often an idle worker looks for due work (1.0)",
    "LOG_FORMAT": "json, console, or auto (readable on a terminal, JSON otherwise)",
    "METRICS_TOKEN": "bearer token GET /metrics asks for; unset: loopback callers only",
    "ADMIN_PASSWORD": "the admin's password, for scripts (see --password-file)",
}
_NOT_SETTINGS = {"ADMIN_PASSWORD"}  # read by its command's option, not by Settings

ALL = tuple(_MEANING)
SERVICE = (
    "DATABASE_URL",
    "DATA_DIR",
    "SECRET_KEY",
    "DATABASE_WAIT_SECONDS",
    "PUBLIC_BASE_URL",
    "FORWARDED_ALLOW_IPS",
    "RATE_LIMIT_URL",
    "METRICS_TOKEN",
    "LOG_FORMAT",
)
WORKER = (
    "DATABASE_URL",
    "DATA_DIR",
    "SECRET_KEY",
    "DATABASE_WAIT_SECONDS",
    "WORKER_CONCURRENCY",
    "WORKER_POLL_SECONDS",
    "LOG_FORMAT",
)
DATABASE = ("DATABASE_URL", "DATA_DIR")
# For a command that reads no setting: its help says so rather than saying nothing.
NONE = "\b\nEnvironment: none read (settings do not change what it writes)."


def environment(*names: str) -> str:
    """An epilog listing `names` (those this version has), one line each, kept as written."""
    present = [n for n in names if n in _NOT_SETTINGS or n.lower() in Settings.model_fields]
    width = max(len(f"AFTERCARE_{n}") for n in present)
    rows = [f"  {f'AFTERCARE_{n}':<{width}}  {_MEANING[n]}" for n in present]
    # \b: click keeps the paragraph's lines as they are instead of re-wrapping them.
    return "\b\nEnvironment (or a .env file in the working directory):\n" + "\n".join(rows)
