"""The database URL checked before anything connects, the errors of connecting told as the
setting and its fix, and `serve`'s and `worker`'s wait for a PostgreSQL not yet up."""

import asyncio
import math
import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from app.cli.startup_checks import UNREACHABLE, StartupMistake, mask_url
from app.core import config
from app.core.config import DATABASE_FILE, Settings
from app.core.db import create_engine_for, sqlite_file

SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+psycopg", "postgresql+asyncpg")
_EXAMPLES = (
    "sqlite+aiosqlite:////absolute/path/aftercare.db or "
    "postgresql+psycopg://user:password@host:5432/aftercare"
)
_MAX_DELAY_SECONDS = 10.0
_MISSING_DATABASE = re.compile(r'database "([^"]*)" does not exist')
_BAD_LOGIN = re.compile(
    r'role "[^"]*" does not exist|password authentication failed|no pg_hba\.conf entry'
    r"|password authentication|authentication failed"
)
_NOT_ANSWERING = re.compile(
    r"connection refused|could not connect|failed to resolve host|name or service not known"
    r"|timed out|timeout expired|starting up|shutting down|no route to host|network is unreachable"
    r"|server closed the connection|connection reset",
    re.IGNORECASE,
)
# SQLite's words for a file it cannot open or write (not "no such table" and the like).
_SQLITE_CANNOT_OPEN = re.compile(r"unable to open database|readonly database|disk i/o", re.I)
# Code that opens and migrates the database: only what is raised in it is diagnosed here.
_DATABASE_CODE = (
    *("sqlalchemy", "alembic", "asyncpg", "psycopg", "aiosqlite", "sqlite3"),
    *("app.core.db", "app.core.migrations"),
)


def database_setting(settings: Settings) -> str:
    """The setting a person changes to move the database."""
    return "AFTERCARE_DATABASE_URL" if settings.database_url else "AFTERCARE_DATA_DIR"


def shown_database(settings: Settings) -> str:
    """`AFTERCARE_DATABASE_URL=postgresql+asyncpg://postgres:***@host/db`, for messages."""
    if settings.database_url:
        return f"AFTERCARE_DATABASE_URL={mask_url(settings.database_url)}"
    if settings.data_dir:
        return f"AFTERCARE_DATA_DIR={settings.data_dir}"
    return f"AFTERCARE_DATA_DIR unset: {settings.resolved_data_dir()}"


def checked_database_url(settings: Settings) -> str:
    """The URL every command connects with; a StartupMistake for one it could not use."""
    shown = shown_database(settings)
    try:
        url = make_url(settings.resolved_database_url())
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        raise StartupMistake(f"{shown} is not a database URL", f"set it to {_EXAMPLES}") from exc
    if url.drivername not in SUPPORTED_DRIVERS:
        backend = url.get_backend_name()
        drivers = [d for d in SUPPORTED_DRIVERS if d.startswith(f"{backend}+")]
        raise StartupMistake(
            f"{shown}: the driver {url.drivername!r} is not supported",
            f"use {' or '.join(d + '://' for d in drivers)}"
            if drivers
            else f"Aftercare runs on SQLite or PostgreSQL: set it to {_EXAMPLES}",
        )
    if url.host and "@" in url.host:  # u:p@ss@host: SQLAlchemy would connect to `ss@host`
        raise StartupMistake(
            f"{shown}: the password holds an @ that is not escaped",
            "write each @ of the password as %40 (and : as %3A, / as %2F)",
        )
    rendered = url.render_as_string(hide_password=False)
    if url.get_backend_name() == "sqlite" and sqlite_file(rendered) is None:
        raise StartupMistake(
            f"{shown} names no database file: an in-memory SQLite database is lost when the "
            "process exits",
            "give a file, e.g. sqlite+aiosqlite:////var/lib/aftercare/aftercare.db (four "
            "slashes for an absolute path), or unset it for var/aftercare.db",
        )
    if url.get_backend_name() == "postgresql" and not url.database:
        raise StartupMistake(
            f"{shown} names no database",
            "add its name to the URL: postgresql+psycopg://user@host:5432/aftercare",
        )
    return rendered


def refuse_a_moved_default_database(settings: Settings) -> None:
    """Until this release the default database was the checkout's var/aftercare.db; now it is
    ./var of the working directory. A service started elsewhere with neither setting would
    quietly make and migrate a new, empty database (its open alerts gone): refused instead."""
    if settings.database_url or settings.data_dir:
        return
    here, before = settings.resolved_data_dir(), config.PROJECT_ROOT / "var"
    old = before / DATABASE_FILE
    if (here / DATABASE_FILE).exists() or here.resolve() == before.resolve():
        return
    if not old.is_file() or old.stat().st_size == 0:  # nothing kept there to lose
        return
    raise StartupMistake(
        f"AFTERCARE_DATA_DIR unset: the database would be a new, empty "
        f"{here / DATABASE_FILE}, but {old} exists (the default before this release, ./var "
        "of the working directory now)",
        f"set AFTERCARE_DATA_DIR={before} to keep using it, or start from {config.PROJECT_ROOT}; "
        f"AFTERCARE_DATA_DIR={here} starts a new database",
    )


def describe_database(url: str) -> str:
    """`SQLite /path/aftercare.db` or `PostgreSQL postgres:***@host:5432/aftercare`."""
    if (path := sqlite_file(url)) is not None:
        return f"SQLite {path.resolve()}"
    driver = make_url(url).get_driver_name()
    return f"PostgreSQL {mask_url(url).split('://', 1)[1]} ({driver})"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, the driver's own error SQLAlchemy wraps, and their causes."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        pending += [current.__context__, current.__cause__]
        if isinstance(orig, BaseException):
            pending.append(orig)


def _reason(exc: BaseException) -> str:
    """The driver's words, without SQLAlchemy's wrapping or libpq's preamble."""
    errors = list(_chain(exc))
    if failed_call := next((e for e in errors if isinstance(e, OSError) and e.errno), None):
        return failed_call.strerror or os.strerror(failed_call.errno or 0)  # asyncpg's: no text
    innermost = next(
        (e for e in errors if type(e).__module__.split(".")[0] in ("psycopg", "asyncpg")),
        errors[-1],
    )
    text = str(innermost).splitlines()[0] if str(innermost) else type(innermost).__name__
    for preamble in (r"^\([\w.]+\) ", r"^connection failed: ", r"^connection to .* failed: "):
        text = re.sub(preamble, "", text)
    return text.replace("FATAL:  ", "")


def _raised_opening_the_database(errors: list[BaseException]) -> bool:
    """Whether the error came from the driver, SQLAlchemy, the migrations or the code making
    the SQLite file: an unwritable --output or a bug elsewhere is not a database mistake."""
    for error in errors:
        if isinstance(error, DBAPIError):
            return True
        trace = error.__traceback__
        while trace is not None:
            module = str(trace.tb_frame.f_globals.get("__name__", ""))
            if module.startswith(_DATABASE_CODE):
                return True
            trace = trace.tb_next
    return False


def _about_the_file(error: OSError, path: Path) -> bool:
    """Whether it is about the SQLite file, its side files (-wal, -journal) or a directory
    above them."""
    if not error.filename:
        return False
    named = Path(os.fsdecode(error.filename)).absolute()
    path = path.absolute()
    return named in path.parents or str(named).startswith(str(path))


def _where(url: URL) -> str:
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def explain_database_error(exc: BaseException, settings: Settings) -> StartupMistake | None:
    """The mistake behind a failure to open the configured database; None if it is not one."""
    url_text = settings.resolved_database_url()
    shown = shown_database(settings)
    errors = list(_chain(exc))
    if not _raised_opening_the_database(errors):
        return None
    words = " ".join(str(e) for e in errors)
    if (path := sqlite_file(url_text)) is not None:
        file_error = next(
            (e for e in errors if isinstance(e, OSError) and _about_the_file(e, path)), None
        )
        sqlite_error = any(
            type(e).__module__ == "sqlite3" and _SQLITE_CANNOT_OPEN.search(str(e)) for e in errors
        )
        if file_error is None and not sqlite_error:
            return None
        problem = _reason(file_error) if file_error else _reason(exc)
        if isinstance(file_error, FileExistsError | NotADirectoryError):
            problem = "a file is in the way of the directory"
        where = f" ({file_error.filename})" if file_error and file_error.filename else ""
        return StartupMistake(
            f"cannot open the SQLite database {path}{where}: {problem} ({shown})",
            f"make {path.parent} a directory user {_user()} can write, or point "
            f"{database_setting(settings)} at one",
        )
    url = make_url(url_text)
    if missing := _MISSING_DATABASE.search(words):
        return StartupMistake(
            f'PostgreSQL at {_where(url)} has no database "{missing.group(1)}" ({shown})',
            f"create it (createdb -h {url.host or 'localhost'} -p {url.port or 5432}"
            f"{f' -U {url.username}' if url.username else ''} {missing.group(1)}) or correct "
            "the name in AFTERCARE_DATABASE_URL",
        )
    if _BAD_LOGIN.search(words):
        return StartupMistake(
            f"PostgreSQL at {_where(url)} refused the login: {_reason(exc)} ({shown})",
            "correct the user and password in AFTERCARE_DATABASE_URL",
        )
    unreachable = any(  # a socket's error: no file name
        (isinstance(e, OSError) and not e.filename) or getattr(e, "sqlstate", None) == "57P03"
        for e in errors
    )
    if unreachable or _NOT_ANSWERING.search(words):
        return StartupMistake(
            f"PostgreSQL at {_where(url)} does not answer: {_reason(exc)} ({shown})",
            "start PostgreSQL, or correct the host and port in AFTERCARE_DATABASE_URL; "
            "AFTERCARE_DATABASE_WAIT_SECONDS is how long `serve` and `worker` wait for it",
            exit_code=UNREACHABLE,
        )
    return None


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return str(os.getuid())


async def _open_once(url: str) -> None:
    engine = create_engine_for(url, pool_size=1, pre_ping=False)
    try:
        async with engine.connect():
            pass
    finally:
        await engine.dispose()


async def reach_database(
    settings: Settings, url: str, say: Callable[[str], None], wait_seconds: float
) -> None:
    """Returns once the database opens. A PostgreSQL that does not answer is tried again with
    back-off (1, 2, 4 ... 10 s) for up to `wait_seconds`; any other mistake is raised at once."""
    deadline = time.monotonic() + wait_seconds
    attempt = 0
    while True:
        attempt += 1
        try:
            await _open_once(url)
            return
        except Exception as exc:
            mistake = explain_database_error(exc, settings)
            if mistake is None:
                raise
            left = deadline - time.monotonic()
            if mistake.exit_code != UNREACHABLE or left <= 0:
                if mistake.exit_code == UNREACHABLE and wait_seconds > 0:
                    mistake.problem += f"; waited {wait_seconds:g} s ({attempt} attempts)"
                raise mistake from exc
            delay = min(2.0 ** (attempt - 1), _MAX_DELAY_SECONDS, left)
            say(
                f"waiting for PostgreSQL at {_where(make_url(url))} (attempt {attempt}, "
                f"next in {math.ceil(delay)} s)"
            )
            await asyncio.sleep(delay)
