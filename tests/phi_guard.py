"""A pytest plugin (loaded by conftest.py): no log line and no audit event of the whole test
run may hold a patient's name, MRN, note text or search string."""

import logging
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from sqlalchemy import String

from app.audit.models import AuditEvent
from tests.helpers import PG_ADMIN_DSN


def pytest_configure(config: pytest.Config) -> None:
    _install_log_capture(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    capture = config.stash.get(_LOG_CAPTURE, None)
    if capture is not None:
        logging.getLogger().removeHandler(capture)


# --- PHI hygiene ------------------------------------------------------------------------------
# No log line and no audit event may hold a patient's name, MRN, note text or search string.
# Every record the test process logs is captured from the start (pytest_configure); at the end
# of the session, before the databases are dropped, every name, MRN and note stored in any of
# the session's databases (so every test's data counts) is searched for in the captured log,
# in the text columns of every database's audit_events and in the output of the `aftercare`
# subprocesses of test_worker_processes.py (written under `subprocess_output_dir`).

# The loggers the service writes to; any other logger is captured from WARNING up.
CAPTURED_LOGGERS = ("aftercare", "uvicorn", "sqlalchemy", "alembic")
# What a deployment (`aftercare serve|worker` configures the root logger at INFO) would emit
# for the app's own loggers. The root logger stays at pytest's WARNING: at INFO it would add
# the test client's httpx request lines (with their query strings), which a deployment does
# not have. sqlalchemy keeps the WARN level it sets itself (INFO would log every statement).
APP_LOG_LEVELS = {"aftercare": logging.INFO, "uvicorn": logging.INFO}
MARKER_COLUMNS = (
    ("patients", "display_name"),
    ("patients", "mrn"),
    ("reports", "notes"),
    ("procedures", "notes"),
    ("alerts", "acknowledgement_note"),
    ("alerts", "resolution_note"),
)
AUDIT_TEXT_COLUMNS = tuple(
    column.name for column in AuditEvent.__table__.columns if isinstance(column.type, String)
)
MIN_MARKER = 4
# Short strings of hex digits and punctuation ("0000", "1-2-3") turn up by chance in ids and
# timings: the fuzz tests store such values, which would make the check fail at random.
_NOISE = re.compile(r"[0-9a-f\W_]{1,7}")


class LogCapture(logging.Handler):
    """Every record that reaches the root logger and that a deployment would write: the
    message with its arguments, plus any exception text and stack."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.addFilter(self._wanted)

    @staticmethod
    def _wanted(record: logging.LogRecord) -> bool:
        return (
            record.levelno >= logging.WARNING
            or record.name == "root"
            or record.name.partition(".")[0] in CAPTURED_LOGGERS
        )

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        self.lines.append(line)

    def text(self, start: int = 0) -> str:
        """What was logged since `start` (a previous `len(capture.lines)`)."""
        return "\n".join(self.lines[start:])


_LOG_CAPTURE = pytest.StashKey[LogCapture]()


def _install_log_capture(config: pytest.Config) -> None:
    capture = LogCapture()
    config.stash[_LOG_CAPTURE] = capture
    logging.getLogger().addHandler(capture)
    for name, level in APP_LOG_LEVELS.items():
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(level)


@pytest.fixture(scope="session")
def captured_logs(pytestconfig: pytest.Config) -> LogCapture:
    """The session's log capture (see LogCapture); `.text(start)` is what came since."""
    return pytestconfig.stash[_LOG_CAPTURE]


@pytest.fixture(scope="session")
def subprocess_output_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where tests write the stdout and stderr of the processes they start; checked for PHI."""
    return tmp_path_factory.mktemp("subprocess-output")


def normalise_markers(values: Iterable[object]) -> set[str]:
    """The values worth searching for, lower-cased (the search ignores case)."""
    found = set()
    for value in values:
        if isinstance(value, str):
            marker = value.strip().lower()
            if len(marker) >= MIN_MARKER and not _NOISE.fullmatch(marker):
                found.add(marker)
    return found


def _trie_pattern(words: Iterable[str]) -> str:
    """One regular expression for all the words, as a trie: at each position of the text the
    engine follows one branch, so the search costs about one pass whatever their number."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def render(node: dict[str, Any]) -> str:
        out = []
        while True:  # a chain of single children (a 2000-character note) without recursion
            end = "" in node
            children = sorted(k for k in node if k)
            if len(children) == 1 and not end:
                out.append(re.escape(children[0]))
                node = node[children[0]]
                continue
            if children:
                group = "(?:" + "|".join(re.escape(c) + render(node[c]) for c in children) + ")"
                out.append(group + "?" if end else group)  # greedy: the longest word first
            return "".join(out)

    return render(root)


@dataclass(frozen=True)
class Leak:
    marker: str
    origin: str  # where the marker is stored
    found_in: str
    context: str

    def __str__(self) -> str:
        return (
            f"{self.marker[:80]!r} (stored as {self.origin}) found in {self.found_in}:\n"
            f"    {self.context}"
        )


def find_markers(markers: Mapping[str, str], texts: Mapping[str, str]) -> list[Leak]:
    """Every occurrence (case-insensitive) of a marker in the texts. `markers` maps each
    lower-cased marker to where it came from; `texts` maps a name to its text."""
    if not markers:
        return []
    # A lookahead finds a match at every position, overlapping ones included; at each, the
    # longest marker, then the markers that are its prefixes.
    pattern = re.compile("(?=(" + _trie_pattern(markers) + "))")
    leaks: dict[tuple[str, str], Leak] = {}
    for name, text in texts.items():
        lowered = text.lower()
        for match in pattern.finditer(lowered):
            longest = match.group(1)
            start = lowered.rfind("\n", 0, match.start()) + 1
            end = lowered.find("\n", match.start())
            line = lowered[start : end if end != -1 else len(lowered)]
            context = line if len(line) <= 400 else line[:400] + "..."
            for size in range(MIN_MARKER, len(longest) + 1):
                marker = longest[:size]
                if marker in markers and (marker, name) not in leaks:
                    leaks[(marker, name)] = Leak(marker, markers[marker], name, context)
    return list(leaks.values())


class _Sqlite:
    def __init__(self, path: Path) -> None:
        self.name = f"sqlite {path}"
        self.connection = sqlite3.connect(path)

    def rows(self, sql: str) -> list[tuple[object, ...]] | None:
        try:
            return self.connection.execute(sql).fetchall()
        except sqlite3.DatabaseError:  # not a database, or a schema without the table/column
            return None

    def columns(self, table: str) -> set[str]:
        return {str(row[1]) for row in self.rows(f"PRAGMA table_info({table})") or []}

    def close(self) -> None:
        self.connection.close()


class _Postgres:
    def __init__(self, name: str) -> None:
        self.name = f"postgresql {name}"
        self.connection = psycopg.connect(make_conninfo(PG_ADMIN_DSN, dbname=name), autocommit=True)

    def rows(self, sql: str) -> list[tuple[object, ...]] | None:
        try:
            return self.connection.execute(sql).fetchall()
        except psycopg.Error:
            return None

    def columns(self, table: str) -> set[str]:
        rows = self.connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,)
        ).fetchall()
        return {str(row[0]) for row in rows}

    def close(self) -> None:
        self.connection.close()


def _open_databases(basetemp: Path, postgres: list[str]) -> Iterator[_Sqlite | _Postgres]:
    # Every SQLite database of the session lives under basetemp (the factory's and the ones
    # tests make in tmp_path, such as the `aftercare serve` one).
    for path in sorted(basetemp.rglob("*.db")):
        yield _Sqlite(path)
    for name in postgres:
        try:
            database = _Postgres(name)
        except psycopg.OperationalError:  # dropped by its test already
            continue
        yield database


def _database_texts(database: _Sqlite | _Postgres) -> tuple[dict[str, str], str]:
    """The markers a database holds (marker -> where), and its audit events' text."""
    markers: dict[str, str] = {}
    for table, column in MARKER_COLUMNS:
        rows = database.rows(f"SELECT DISTINCT {column} FROM {table} WHERE {column} IS NOT NULL")
        for marker in normalise_markers(row[0] for row in rows or []):
            markers.setdefault(marker, f"{table}.{column} in {database.name}")
    present = [c for c in AUDIT_TEXT_COLUMNS if c in database.columns("audit_events")]
    audit = ""
    if present:
        rows = database.rows(f"SELECT {', '.join(present)} FROM audit_events")
        audit = "\n".join(" | ".join(str(v) for v in row if v is not None) for row in rows or [])
    return markers, audit


def check_phi_hygiene(
    basetemp: Path, postgres: list[str], log_text: str, subprocess_output: Path
) -> tuple[list[Leak], str]:
    """The leaks, and a summary of what was searched."""
    started = time.perf_counter()
    markers: dict[str, str] = {}
    texts = {"the test process's log": log_text}
    for database in _open_databases(basetemp, postgres):
        try:
            held, audit = _database_texts(database)
        finally:
            database.close()
        for marker, origin in held.items():
            markers.setdefault(marker, origin)
        if audit:
            texts[f"audit_events of {database.name}"] = audit
    for path in sorted(subprocess_output.rglob("*")):
        if path.is_file():
            texts[f"subprocess output {path}"] = path.read_text(errors="replace")
    read = time.perf_counter()
    leaks = find_markers(markers, texts)
    summary = (
        f"{len(markers)} markers searched in {len(texts)} texts "
        f"({sum(map(len, texts.values())) / 1e6:.1f} M characters): {len(leaks)} found; "
        f"{read - started:.1f} s reading, {time.perf_counter() - read:.1f} s searching\n"
        + "".join(f"  {name}: {len(text)} characters\n" for name, text in texts.items())
    )
    return leaks, summary


@pytest.fixture(scope="session", autouse=True)
def phi_hygiene(
    tmp_path_factory: pytest.TempPathFactory,
    empty_database_factory: object,
    postgres_databases: list[str],
    captured_logs: LogCapture,
    subprocess_output_dir: Path,
) -> Iterator[None]:
    """Fails the run (an error at the last test's teardown) if any log line, audit event or
    subprocess output holds a stored patient name, MRN or note. Torn down before
    `empty_database_factory` drops the PostgreSQL databases."""
    yield
    report_dir = tmp_path_factory.mktemp("phi-hygiene")
    log_text = captured_logs.text()
    (report_dir / "test-process.log").write_text(log_text, errors="replace")
    basetemp = tmp_path_factory.getbasetemp()
    leaks, summary = check_phi_hygiene(
        basetemp, postgres_databases, log_text, subprocess_output_dir
    )
    (report_dir / "summary.txt").write_text(summary)
    if leaks:
        report = "\n".join(str(leak) for leak in leaks)
        (report_dir / "leaks.txt").write_text(report, errors="replace")
        shown = "\n".join(str(leak) for leak in leaks[:20])
        pytest.fail(
            f"{len(leaks)} patient names/MRNs/notes found in logs, audit events or subprocess "
            f"output (all of them in {report_dir / 'leaks.txt'}):\n{shown}",
            pytrace=False,
        )
