"""Logging an exception without its words. An exception's message can carry patient data
(PostgreSQL's "Failing row contains (... notes ...)", a validation error's input), and
`hide_parameters` does not reach it. What a person debugging needs is the type, the database's
error code and constraint, and where it happened: that is what is logged."""

import logging
import traceback
from typing import Any

_FRAMES = 6


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


def redact_exceptions_in(handlers: list[Any]) -> None:
    for handler in handlers:
        handler.addFilter(RedactExceptionText())
