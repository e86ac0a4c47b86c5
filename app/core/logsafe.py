"""Logs without patient data.

An exception's message can carry patient data (PostgreSQL's "Failing row contains (... notes
...)", a validation error's input), and `hide_parameters` does not reach it. What a person
debugging needs is the type, the database's error code and constraint, and where it happened:
that is what is logged.

The handler `aftercare serve|worker` writes through (`configure_logging`) prints one line per
record, JSON for log collectors or a readable line on a terminal; it redacts exception text
and drops what other libraries log below INFO, which is where they print their raw inputs.
"""

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from app.core.audit import current_record

LogFormat = Literal["auto", "json", "console"]
# A record's structured fields (`logger.info(..., extra={FIELDS: {...}})`): ids, routes,
# statuses and timings only. The JSON line carries them as keys of its own.
FIELDS = "aftercare_fields"
_FRAMES = 6
# SQLAlchemy's DEBUG prints result rows, aiosqlite's every statement with its parameters,
# python-multipart's the form fields (a password): none of it may reach a log.
_SERVICE_LOGGERS = ("aftercare",)
# httpx names every URL it requests at INFO: a webhook URL may hold the receiver's credentials,
# and each attempt is kept in webhook_deliveries anyway.
_QUIET_UNTIL_WARNING = ("httpx", "httpcore")


def describe(exc: BaseException) -> str:
    parts = [type(exc).__qualname__]
    original = getattr(exc, "orig", None)  # a SQLAlchemy DBAPIError wraps the driver's error
    if original is not None:
        parts += [type(original).__qualname__, *_database_facts(original)]
    frames = traceback.extract_tb(exc.__traceback__)[-_FRAMES:]
    where = " < ".join(
        f"{f.name} ({f.filename.rsplit('/', 2)[-1]}:{f.lineno})" for f in reversed(frames)
    )
    cause = exc.__cause__ or exc.__context__
    text = f"{' '.join(parts)} at {where or '?'}"
    return f"{text}; caused by {type(cause).__qualname__}" if cause is not None else text


def _database_facts(original: BaseException) -> list[str]:
    """Error code, table, column and constraint: named by the schema, never by the data."""
    if type(original).__module__ == "sqlite3":
        return [str(original)]  # SQLite names columns and constraints, never values
    facts: list[str] = []
    # psycopg keeps them in .diag; asyncpg on the error SQLAlchemy's adapter wraps.
    for source in (original, getattr(original, "diag", None), original.__cause__):
        for name in ("sqlstate", "table_name", "column_name", "constraint_name"):
            value = getattr(source, name, None)
            fact = f"{name}={value}"
            if isinstance(value, str) and value and fact not in facts:
                facts.append(fact)
    return facts


def log_failure(logger: logging.Logger, message: str, exc: BaseException) -> None:
    logger.error("%s: %s", message, describe(exc))


class RedactExceptionText(logging.Filter):
    """For handlers that also carry other libraries' records (uvicorn's "Exception in ASGI
    application"): the traceback is replaced by `describe`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            described = describe(record.exc_info[1])
            record.msg, record.args = f"{record.getMessage()}: {described}", ()
            record.exc_info, record.exc_text = None, None
        return True


def libraries_quiet(record: logging.LogRecord) -> bool:
    """False for the records of other libraries that may print their raw inputs."""
    top = record.name.partition(".")[0]
    if top in _QUIET_UNTIL_WARNING:
        return record.levelno >= logging.WARNING
    return record.levelno >= logging.INFO or top in _SERVICE_LOGGERS


class _Redacting(logging.Formatter):
    """Never a traceback's text or a stack, even on a handler without RedactExceptionText."""

    def formatException(self, ei: Any) -> str:
        return describe(ei[1]) if ei and ei[1] is not None else ""

    def formatStack(self, stack_info: str) -> str:
        return ""


class JsonFormatter(_Redacting):
    """One JSON object per line: time (UTC), level, logger, message, the request id of the
    request being served (if any) and the record's FIELDS."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        serving = current_record()
        if serving is not None:
            line["request_id"] = serving.request_id
        line.update(getattr(record, FIELDS, None) or {})
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class ConsoleFormatter(_Redacting):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s  %(message)s", "%H:%M:%S")


def log_handler(log_format: LogFormat, stream: TextIO) -> logging.Handler:
    """JSON unless a person is reading: `auto` gives a readable line when `stream` is a
    terminal."""
    handler = logging.StreamHandler(stream)
    as_json = log_format == "json" or (log_format == "auto" and not stream.isatty())
    handler.setFormatter(JsonFormatter() if as_json else ConsoleFormatter())
    handler.addFilter(RedactExceptionText())
    handler.addFilter(libraries_quiet)
    return handler


def configure_logging(log_format: LogFormat, stream: TextIO | None = None) -> logging.Handler:
    """The root logger at INFO, through `log_handler` only (uvicorn runs with log_config=None,
    so its records come here too)."""
    handler = log_handler(log_format, stream or sys.stderr)
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    return handler
