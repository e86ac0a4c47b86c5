"""Engine, sessions and the two transaction shapes every service uses: `read()` and `write()`.

A service function opens exactly one of these and the block's exit commits, so the commit
happens before the endpoint returns (never in a dependency's cleanup, which FastAPI may run
after the response was sent).
"""

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import pydantic_core
from sqlalchemy import Executable, event
from sqlalchemy.engine import Row, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from app.core.logsafe import log_failure

log = logging.getLogger("aftercare")
IMMEDIATE = "aftercare_sqlite_immediate"
NO_TRANSACTION = "aftercare_sqlite_no_transaction"
# Set in a session's `info` by whatever writes an outbox event (app/outbox/service.py).
OUTBOX_WRITTEN = "aftercare_outbox_written"
# Set by app/audit/record.py `stage` to the request's audit record: once the transaction has
# committed, the record is marked written and the audit middleware adds no other event.
AUDIT_STAGED = "aftercare_audit_staged"
# Appended to by `count_on_commit`: what the transaction did, told to the Database's
# `commit_listeners` (app/metrics counts it) once it has committed, and never if it did not.
COMMITTED_COUNTS = "aftercare_committed_counts"
# The events `count_on_commit` may note, each a counter of app/metrics/registry.py: a Literal
# so that mypy refuses a misspelt name (which would otherwise count nothing, silently).
CountedEvent = Literal[
    "report_stored", "alert_raised", "alert_escalated", "checkin_missed", "webhook_attempt"
]
# An event's name and its label values, e.g. ("alert_raised", ("fever", "urgent")).
Counted = tuple[CountedEvent, tuple[str, ...]]
_SIDE_FILES = ("-wal", "-shm", "-journal")


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for a server database or an in-memory one."""
    database = make_url(url).database if is_sqlite(url) else None
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def count_on_commit(session: AsyncSession, name: CountedEvent, *labels: str) -> None:
    """Counts an event once the session's `Database.write()` transaction commits. Noted
    inside a savepoint that is rolled back, it would still be counted: no code uses
    savepoints (`begin_nested`); one that does must not count inside them."""
    session.info.setdefault(COMMITTED_COUNTS, []).append((name, labels))


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _configure_sqlite(engine: AsyncEngine, *, foreign_keys: bool = True) -> None:
    # pysqlite's own transaction handling is off (isolation_level=None) so that we emit BEGIN
    # ourselves: a write starts with BEGIN IMMEDIATE and so never fails with "database is
    # locked" while upgrading a read lock.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # Migrations run with foreign keys off: batch mode recreates tables, which would
        # otherwise fail or cascade on a populated database (checked afterwards instead).
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a report the app was told was saved survives power loss, not just a crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        options = conn.get_execution_options()
        if options.get(NO_TRANSACTION):
            return  # one statement, in SQLite's own autocommit (Database.lookup_scalar)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get(IMMEDIATE) else "BEGIN")


def _private_database_file(path: Path) -> None:
    """The database holds patient data: its directory is made 0700 and the file 0600, and
    SQLite gives the -wal, -shm and -journal files it makes beside it the file's mode. The file
    is made here, empty (a valid empty database), so it never exists with the umask's mode. An
    existing file is tightened; an existing directory is left as it is (it may be shared, such
    as /tmp)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        for existing in (path, *(path.with_name(path.name + s) for s in _SIDE_FILES)):
            try:
                if existing.stat().st_mode & 0o077:
                    existing.chmod(0o600)
            except FileNotFoundError:
                pass
            except PermissionError:  # another user's file: theirs to tighten
                log.warning("could not make %s private (mode 0600): not its owner", existing)


def create_engine_for(
    url: str,
    *,
    pool_size: int = 10,
    echo: bool = False,
    foreign_keys: bool = True,
    autocommit: bool = False,
    pre_ping: bool = True,
) -> AsyncEngine:
    if is_sqlite(url):
        if (database := sqlite_file(url)) is not None:
            _private_database_file(database)
        engine = create_async_engine(
            url, echo=echo, hide_parameters=True, json_deserializer=pydantic_core.from_json
        )
        _configure_sqlite(engine, foreign_keys=foreign_keys)
        return engine
    connect_args: dict[str, Any] = {}
    one_trip_ping = False
    if make_url(url).get_driver_name() == "asyncpg":
        # Works behind pgbouncer in transaction mode too.
        behind_pgbouncer = "pgbouncer" in url
        connect_args["statement_cache_size"] = 0 if behind_pgbouncer else 100
        one_trip_ping = pre_ping and not behind_pgbouncer
    engine = create_async_engine(
        url,
        echo=echo,
        hide_parameters=True,  # SQL parameters are patient data: never in logs.
        # The ceiling is twice pool_size, as with pool_size plus as many overflow, but a
        # connection opened under load is kept when returned instead of closed: at 64
        # concurrent reads the overflow opened and closed hundreds of connections in seconds,
        # milliseconds of CPU each at both ends (bench/README.md, "Read path").
        pool_size=2 * pool_size,
        max_overflow=0,
        pool_pre_ping=pre_ping and not one_trip_ping,
        connect_args=connect_args,
        # pydantic's JSON parser (Rust), about 3x json.loads: a block's summary and chart
        # read the side effects of each of its reports.
        json_deserializer=pydantic_core.from_json,
        **({"isolation_level": "AUTOCOMMIT"} if autocommit else {}),
    )
    if one_trip_ping:
        _ping_in_one_trip(engine)
    return engine


_AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


def _ping_in_one_trip(engine: AsyncEngine) -> None:
    """SQLAlchemy's asyncpg ping wraps its `;` in BEGIN and ROLLBACK (for pgbouncer's
    transaction mode): three round trips before every transaction. Without pgbouncer one
    does, at checkout, as SQLAlchemy's pessimistic-disconnect recipe does it: a dead
    connection raises DisconnectionError and the pool replaces it."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _ping(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        try:
            dbapi_connection.await_(dbapi_connection._connection.fetchval(";"))
        except Exception as exc:
            raise DisconnectionError("the pooled connection is gone") from exc


class Database:
    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        self.sqlite = is_sqlite(url)
        self.engine = create_engine_for(url, pool_size=pool_size, echo=echo)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # Every request's identity check is one SELECT: on PostgreSQL it runs outside a
        # transaction on a pool of its own, one round trip instead of six (bench/README.md,
        # "Sessions and audit"). No ping: a read with no side effect is simply tried again
        # on a fresh connection when the pooled one turns out dead (`lookup_scalar`).
        self._lookups = (
            None
            if self.sqlite
            else create_engine_for(
                url, pool_size=max(2, pool_size // 2), autocommit=True, pre_ping=False
            )
        )
        # SQLite allows one writer; queueing writers here is far fairer than busy-timeout
        # polling (which gives second-long p99 tails). PostgreSQL needs no such lock.
        self._write_lock = asyncio.Lock() if self.sqlite else None
        # Set once a transaction that wrote outbox events has committed, so a worker in this
        # process sends them at once instead of at its next poll.
        self.outbox_written = asyncio.Event()
        # Called after each commit with what `count_on_commit` noted in it. One that raises
        # is logged and ignored: the transaction has committed whatever a listener does.
        self.commit_listeners: list[Callable[[list[Counted]], None]] = []
        # Called when a pooled connection turns out dead: the server restarted or failed over,
        # perhaps to a restored or lagging copy whose data (and block revisions) went back.
        self.connection_lost: list[Callable[[], None]] = []
        for engine in filter(None, (self.engine, self._lookups)):
            event.listen(engine.sync_engine, "invalidate", self._connection_lost)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """Reads, and nothing else. On PostgreSQL in autocommit: at READ COMMITTED each
        statement sees its own snapshot inside a transaction too, so BEGIN and ROLLBACK
        bought nothing and cost two round trips a request (bench/README.md, "Read path")."""
        async with self._sessions() as session, session.begin():
            if not self.sqlite:
                await session.connection(execution_options=_AUTOCOMMIT)
            yield session

    @asynccontextmanager
    async def read_transaction(self) -> AsyncIterator[AsyncSession]:
        """Reads inside a transaction: what a server-side cursor (`Session.stream`) needs on
        PostgreSQL, where `read` runs in autocommit."""
        async with self._sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One transaction that commits when the block exits without an exception."""
        async with self._sessions() as session:
            if self._write_lock is None:
                async with session.begin():
                    yield session
            else:
                async with self._write_lock, session.begin():
                    await session.connection(execution_options={IMMEDIATE: True})
                    yield session
            # Committed: first what the commit means for this request (its audit event is
            # written, its outbox events are waiting), then the listeners, which can fail.
            staged = session.info.pop(AUDIT_STAGED, None)
            if staged is not None:
                staged.written = True
            if session.info.pop(OUTBOX_WRITTEN, False):
                self.outbox_written.set()
            if counted := session.info.pop(COMMITTED_COUNTS, None):
                self._tell_listeners(counted)

    def _connection_lost(self, *_: Any) -> None:
        for listener in self.connection_lost:
            listener()

    def _tell_listeners(self, counted: list[Counted]) -> None:
        for listener in self.commit_listeners:
            try:
                listener(counted)
            except Exception as exc:  # by type and place only: its text could hold data
                log_failure(log, "a commit listener failed; the transaction stands", exc)

    async def lookup_scalar(self, statement: Executable, params: dict[str, Any]) -> Any:
        """One read statement that needs no transaction around it; its first column."""
        row = await self.lookup_row(statement, params)
        return None if row is None else row[0]

    async def lookup_row(self, statement: Executable, params: dict[str, Any]) -> Row[Any] | None:
        """One read statement that needs no transaction around it; its first row."""
        rows = await self.lookup_rows(statement, params)
        return rows[0] if rows else None

    async def lookup_rows(self, statement: Executable, params: dict[str, Any]) -> list[Row[Any]]:
        """One read statement that needs no transaction around it: no pool ping, no BEGIN and
        no ROLLBACK, and tried once more on a fresh connection if the pooled one is dead."""
        if self._lookups is None:  # SQLite: no BEGIN and COMMIT, each a thread hop
            async with self.engine.connect() as connection:
                plain = await connection.execution_options(**{NO_TRANSACTION: True})
                return list(await plain.execute(statement, params))
        for attempt in (1, 2):
            try:
                async with self._lookups.connect() as connection:
                    return list(await connection.execute(statement, params))
            except DBAPIError as exc:
                if attempt == 2 or not exc.connection_invalidated:
                    raise
        raise AssertionError("unreachable")

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._lookups is not None:
            await self._lookups.dispose()
