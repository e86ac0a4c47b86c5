"""Start-up mistakes end in a line or two that name the setting, its value (password masked)
and the fix, with exit code 2 (3: PostgreSQL did not answer in time), never a traceback unless
`aftercare --debug`; the help, --version and `serve`'s banner line."""

import asyncio
import json
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest
import typer
from sqlalchemy import text
from typer.testing import CliRunner

from app.cli import cli
from app.cli.common import _Commands
from app.cli.database_checks import explain_database_error
from app.cli.startup_checks import StartupMistake, bind_listeners, mask_url
from app.core import config
from app.core.config import Settings
from app.core.db import create_engine_for
from tests.helpers import TEST_SECRET
from tests.test_worker_processes import aftercare_command

runner = CliRunner()
CLOSED_PORT_URL = "postgresql+psycopg://postgres:pg-secret-9@127.0.0.1:1/aftercare"


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No setting from the outer environment or a stray .env; the working directory (and so
    the default data directory, ./var) is the test's own, and so is the checkout whose var/
    held the database before (this checkout's own var/ may hold one)."""
    monkeypatch.setattr(config, "PROJECT_ROOT", tmp_path / "no-checkout")
    for name in list(os.environ):
        if name.startswith("AFTERCARE_") and not name.startswith(
            ("AFTERCARE_REQUIRE_", "AFTERCARE_TEST_")
        ):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield tmp_path


def spoken(output: str) -> str:
    """The output as a person reads it: a log record's message in place of its JSON line
    (progress and the banner are log records; a mistake is told in plain lines)."""
    lines = []
    for line in output.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            lines.append(line)
        else:
            lines.append(record["message"] if isinstance(record, dict) else line)
    return "\n".join(lines)


def told(output: str, *words: str, most_lines: int = 3) -> list[str]:
    """The output's lines, having checked they are few, hold no traceback, and say `words`."""
    output = spoken(output)
    lines = [line for line in output.splitlines() if line.strip()]
    assert 1 <= len(lines) <= most_lines, output
    assert "Traceback" not in output and 'File "' not in output, output
    for word in words:
        assert word in output, f"{word!r} not in:\n{output}"
    return lines


def migrate(env: pytest.MonkeyPatch, **variables: str) -> tuple[int, str]:
    for name, value in variables.items():
        env.setenv(name, value)
    result = runner.invoke(cli, ["migrate"])
    return result.exit_code, result.stderr


@pytest.fixture
def env(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    return monkeypatch


def run_aftercare(
    tmp_path: Path,
    output_dir: Path,
    *args: str,
    timeout: float = 60,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """The installed command in a clean environment; its output is kept for the PHI check."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    command = [aftercare_command(), *args]
    done = subprocess.run(
        command,
        env={**clean, **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    (output_dir / f"startup-{uuid.uuid4().hex[:8]}.log").write_text(done.stdout + done.stderr)
    return done


def test_a_data_directory_that_cannot_be_made(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("")
    env.setenv("AFTERCARE_DATA_DIR", str(in_the_way))
    code, output = migrate(env)
    assert code == 2
    told(output, "AFTERCARE_DATA_DIR", str(in_the_way), "fix:")
    env.delenv("AFTERCARE_DATA_DIR")
    env.setenv("AFTERCARE_DATABASE_URL", f"sqlite+aiosqlite:///{in_the_way}/sub/aftercare.db")
    code, output = migrate(env)
    assert code == 2
    told(output, "AFTERCARE_DATABASE_URL", "cannot open the SQLite database")


def test_an_unwritable_data_directory(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    immutable = os.geteuid() == 0  # root writes a read-only directory: an immutable one not
    if immutable:
        made = subprocess.run(["chattr", "+i", str(locked)], capture_output=True, check=False)
        if made.returncode != 0:
            pytest.skip(f"root, and no immutable directory here: {made.stderr!r}")
    try:
        env.setenv("AFTERCARE_DATA_DIR", str(locked / "var"))
        code, output = migrate(env)
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(locked)], check=True)
    assert code == 2
    refused = "Operation not permitted" if immutable else "Permission denied"
    told(output, "AFTERCARE_DATA_DIR", f"{locked}/var", refused, "fix: make")
    assert not (locked / "var").exists()


@pytest.mark.unit
@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("not a url", ["is not a database URL", "sqlite+aiosqlite:////"]),
        ("postgresql+asyncpg://postgres:hunter2-pg@db:5432", ["names no database"]),
        ("mysql://app:hunter2-pg@db/aftercare", ["'mysql' is not supported", "SQLite or"]),
        ("postgresql+psycopg2://app:hunter2-pg@db/a", ["postgresql+psycopg:// or"]),
        ("sqlite://", ["names no database file", "in-memory"]),
        ("sqlite+aiosqlite:///:memory:", ["names no database file"]),
    ],
)
def test_a_database_url_that_cannot_work(
    env: pytest.MonkeyPatch, url: str, words: list[str]
) -> None:
    code, output = migrate(env, AFTERCARE_DATABASE_URL=url)
    assert code == 2
    told(output, "AFTERCARE_DATABASE_URL=", "fix:", *words)
    assert "hunter2" not in output  # the password is masked
    if "hunter2" in url:
        assert ":***@" in output


def test_a_plain_sqlite_url_is_taken_as_aiosqlite(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    code, output = migrate(env, AFTERCARE_DATABASE_URL=f"sqlite:///{tmp_path}/plain.db")
    assert (code, output) == (0, "")
    assert (tmp_path / "plain.db").stat().st_size > 0


@pytest.mark.unit
def test_an_invalid_setting_value_is_named(env: pytest.MonkeyPatch) -> None:
    code, output = migrate(env, AFTERCARE_DB_POOL_SIZE="abc")
    assert code == 2
    told(output, "AFTERCARE_DB_POOL_SIZE='abc'", "integer", "unset it for its default (20)")
    env.delenv("AFTERCARE_DB_POOL_SIZE")
    code, output = migrate(env, AFTERCARE_SECRET_KEY="short-but-secret")
    assert code == 2
    told(output, "AFTERCARE_SECRET_KEY", "shorter than 32 bytes")
    assert "short-but-secret" not in output
    code, output = migrate(env, AFTERCARE_RATE_LIMIT_URL="http://user:hunter2-pg@cache:6379")
    assert code == 2
    told(output, "AFTERCARE_RATE_LIMIT_URL", "redis://", "user:***@cache")
    assert "hunter2" not in output


def test_a_missing_postgresql_database_is_not_waited_for(
    env: pytest.MonkeyPatch, pg_available: bool, tmp_path: Path, subprocess_output_dir: Path
) -> None:
    if not pg_available:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    name = f"aftercare_missing_{uuid.uuid4().hex[:8]}"
    fix = f"createdb -h 127.0.0.1 -p 5432 -U postgres {name}"
    code, output = migrate(
        env, AFTERCARE_DATABASE_URL=f"postgresql+psycopg://postgres:pw-9@127.0.0.1:5432/{name}"
    )
    assert code == 2
    told(output, f'no database "{name}"', "postgresql+psycopg://postgres:***@", fix)
    started = time.monotonic()
    # The worker waits for a PostgreSQL that is down, not for a database that does not exist.
    done = run_aftercare(
        tmp_path,
        subprocess_output_dir,
        "worker",
        AFTERCARE_DATABASE_URL=f"postgresql+asyncpg://postgres:pw-9@127.0.0.1:5432/{name}",
        AFTERCARE_DATABASE_WAIT_SECONDS="60",
    )
    assert done.returncode == 2 and time.monotonic() - started < 30
    told(done.stderr, f'no database "{name}"', "postgresql+asyncpg://postgres:***@", fix)


def test_postgresql_down_fails_at_once_without_a_wait(env: pytest.MonkeyPatch) -> None:
    code, output = migrate(env, AFTERCARE_DATABASE_URL=CLOSED_PORT_URL)
    assert code == 3
    lines = told(output, "PostgreSQL at 127.0.0.1:1 does not answer", "Connection refused")
    assert "postgres:***@127.0.0.1:1" in lines[0] and "AFTERCARE_DATABASE_WAIT_SECONDS" in lines[1]


def test_serve_waits_for_postgresql_then_names_it(
    tmp_path: Path, subprocess_output_dir: Path
) -> None:
    started = time.monotonic()
    done = run_aftercare(
        tmp_path,
        subprocess_output_dir,
        "serve",
        "--port",
        "0",
        AFTERCARE_DATABASE_URL=CLOSED_PORT_URL,
        AFTERCARE_DATABASE_WAIT_SECONDS="3.5",
    )
    assert done.returncode == 3, done.stderr
    assert time.monotonic() - started >= 3.5
    lines = told(done.stderr, most_lines=6)
    waits = [line for line in lines if line.startswith("waiting for PostgreSQL at 127.0.0.1:1")]
    assert waits[0] == "waiting for PostgreSQL at 127.0.0.1:1 (attempt 1, next in 1 s)"
    assert re.fullmatch(r".*\(attempt 2, next in [12] s\)", waits[1]), waits  # back-off
    assert lines[: len(waits)] == waits
    assert re.fullmatch(
        r"error: PostgreSQL at 127\.0\.0\.1:1 does not answer: Connection refused \("
        r"AFTERCARE_DATABASE_URL=postgresql\+psycopg://postgres:\*\*\*@127\.0\.0\.1:1/aftercare"
        rf"\); waited 3\.5 s \({len(waits) + 1} attempts\)",
        lines[-2],
    ), lines[-2]
    assert lines[-1].startswith("  fix: start PostgreSQL")


def test_a_port_in_use_is_told_before_migrating(
    tmp_path: Path, subprocess_output_dir: Path
) -> None:
    database = tmp_path / "data" / "aftercare.db"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        url = f"sqlite+aiosqlite:///{database}"
        serve = ("serve", "--port", str(port))
        done = run_aftercare(tmp_path, subprocess_output_dir, *serve, AFTERCARE_DATABASE_URL=url)
    assert done.returncode == 2
    told(done.stderr, f"--port {port}", "Address already in use", "another --port")
    assert not database.parent.exists()  # not migrated, not even made


def test_serve_says_where_it_listens_which_database_and_the_worker(
    tmp_path: Path, subprocess_output_dir: Path
) -> None:
    database = tmp_path / "aftercare.db"
    log = subprocess_output_dir / f"serve-banner-{uuid.uuid4().hex[:8]}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env.update(
        AFTERCARE_DATABASE_URL=f"sqlite:///{database}",
        AFTERCARE_SECRET_KEY=TEST_SECRET,
        AFTERCARE_LOG_FORMAT="json",
    )
    with log.open("w") as out:
        command = [aftercare_command(), "serve", "--port", "0"]
        process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        banner = None
        while banner is None and time.monotonic() < deadline and process.poll() is None:
            said = spoken(log.read_text()).splitlines()
            banner = next((x for x in said if x.startswith("aftercare serve:")), None)
            time.sleep(0.2)
        assert banner is not None, log.read_text()
        found = re.fullmatch(
            r"aftercare serve: listening on http://127\.0\.0\.1:(\d+); database SQLite (.+); "
            r"worker in this process",
            banner,
        )
        assert found, banner
        assert found.group(2) == str(database)
        assert _connects(int(found.group(1)), deadline), "nothing listens where it says"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _connects(port: int, deadline: float) -> bool:
    """Whether the port accepts a connection before the deadline (uvicorn listens just after
    the banner, once the app has started)."""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                return True
        except ConnectionRefusedError:
            time.sleep(0.2)
    return False


@pytest.mark.unit
def test_debug_shows_the_exception(env: pytest.MonkeyPatch) -> None:
    env.setenv("AFTERCARE_DATABASE_URL", "mysql://app@db/aftercare")
    result = runner.invoke(cli, ["--debug", "migrate"])
    assert isinstance(result.exception, StartupMistake)  # raised, for Python to print


@pytest.mark.unit
def test_version() -> None:
    result = runner.invoke(cli, ["--version"])
    assert (result.exit_code, result.stdout) == (0, f"aftercare {version('aftercare')}\n")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("command", "variables"),
    [
        ([], ["AFTERCARE_DATABASE_URL", "AFTERCARE_SECRET_KEY", "AFTERCARE_DATA_DIR"]),
        (["serve"], ["AFTERCARE_DATABASE_URL", "AFTERCARE_DATABASE_WAIT_SECONDS"]),
        (["worker"], ["AFTERCARE_DATABASE_URL", "AFTERCARE_WORKER_CONCURRENCY"]),
        (["migrate"], ["AFTERCARE_DATABASE_URL", "AFTERCARE_DATA_DIR"]),
        (["create-admin"], ["AFTERCARE_DATABASE_URL", "AFTERCARE_ADMIN_PASSWORD"]),
        (["demo"], ["AFTERCARE_DATABASE_URL", "AFTERCARE_PUBLIC_BASE_URL"]),
        (["rotate-signing-key"], ["AFTERCARE_DATABASE_URL", "AFTERCARE_SECRET_KEY"]),
        (["rules", "dry-run"], ["AFTERCARE_DATABASE_URL", "AFTERCARE_DATA_DIR"]),
        (["serve"], ["AFTERCARE_METRICS_TOKEN", "AFTERCARE_RATE_LIMIT_URL"]),
        (["openapi"], ["Environment: none read"]),
        (["rules", "doc"], ["Environment: none read"]),
    ],
)
def test_help_names_the_environment_and_shows_flags_plainly(
    command: list[str], variables: list[str]
) -> None:
    result = runner.invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    for variable in variables:
        assert variable in result.stdout
    assert "<bool>" not in result.stdout
    if command == ["serve"]:
        assert re.search(r"^  --no-worker +Serve only", result.stdout, re.MULTILINE)
    if not command:
        assert re.search(r"^  --version +Print the version", result.stdout, re.MULTILINE)


CLINIC = str(uuid.uuid4())
DATABASE_COMMANDS = [
    ["migrate"],
    ["serve", "--port", "0"],
    ["worker"],
    ["demo"],
    ["rotate-signing-key", "--list"],
    ["rules", "dry-run", "--clinic", CLINIC, "--version", "1"],
    [
        "create-admin",
        "--clinic",
        "C",
        "--email",
        "a@clinic.example",
        "--password",
        "violet-harbor-lantern-92",
    ],
]


@pytest.mark.unit
@pytest.mark.parametrize("command", DATABASE_COMMANDS, ids=lambda c: "-".join(c[:2]))
def test_a_database_left_in_the_checkout_is_not_replaced_by_an_empty_one(
    env: pytest.MonkeyPatch, tmp_path: Path, command: list[str]
) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "var").mkdir(parents=True)
    (checkout / "var" / "aftercare.db").write_bytes(b"SQLite format 3\0 and its alerts")
    env.setattr(config, "PROJECT_ROOT", checkout)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env.chdir(elsewhere)
    result = runner.invoke(cli, command)
    assert result.exit_code == 2, result.output
    told(
        result.stderr,
        f"{elsewhere}/var/aftercare.db",
        f"{checkout}/var/aftercare.db exists",
        f"fix: set AFTERCARE_DATA_DIR={checkout}/var to keep using it, or start from {checkout}",
    )
    assert not (elsewhere / "var").exists()  # nothing made, nothing migrated


def test_the_database_in_the_checkout_is_used_from_there_or_when_named(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    checkout = tmp_path / "checkout"
    env.setattr(config, "PROJECT_ROOT", checkout)
    env.chdir(checkout.parent)
    (checkout / "var").mkdir(parents=True)
    env.chdir(checkout)  # started from the checkout: its var/ is ./var
    assert migrate(env) == (0, "")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env.chdir(elsewhere)
    assert migrate(env, AFTERCARE_DATA_DIR=str(checkout / "var")) == (0, "")
    assert not (elsewhere / "var").exists()


@pytest.mark.unit
def test_a_rate_limit_url_that_does_not_parse_is_told_without_its_password(
    env: pytest.MonkeyPatch,
) -> None:
    code, output = migrate(env, AFTERCARE_RATE_LIMIT_URL="redis://:s3cretpw@host:abc/0")
    assert code == 2
    told(output, "AFTERCARE_RATE_LIMIT_URL", "redis://:***@host:abc/0", most_lines=1)
    assert "s3cretpw" not in output


@pytest.mark.unit
def test_an_unexpected_error_never_prints_a_password_or_a_secret(
    env: pytest.MonkeyPatch,
) -> None:
    env.setenv("AFTERCARE_SECRET_KEY", TEST_SECRET)
    env.setenv("AFTERCARE_METRICS_TOKEN", "metrics-token-7f3a9c2b5d8e1f4a6b0c")
    failing = typer_app_raising(
        RuntimeError(
            f"cannot use redis://:s3cretpw@cache:6379/0 with {TEST_SECRET} "
            "and metrics-token-7f3a9c2b5d8e1f4a6b0c"
        )
    )
    result = runner.invoke(failing, ["boom"])
    assert result.exit_code == 1
    lines = told(result.stderr, "RuntimeError", "redis://:***@cache:6379/0", "(hidden)")
    assert "s3cretpw" not in lines[0] and TEST_SECRET not in lines[0]
    assert "metrics-token" not in lines[0]


def typer_app_raising(error: Exception) -> typer.Typer:
    """A command run the way every `aftercare` command is run (its errors told by _Commands)."""
    app = typer.Typer(cls=_Commands)

    @app.command()
    def boom() -> None:
        raise error

    @app.command()
    def other() -> None: ...

    return app


@pytest.mark.unit
@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg://u@h/db?password=secret-9",
            "postgresql+psycopg://u@h/db?password=***",
        ),
        ("postgresql+psycopg://u:p@ss-secret-9@h/db", "postgresql+psycopg://u:***@h/db"),
        ("postgresql//u:secret-9@h/db", "postgresql//u:***@h/db"),
        (
            "postgresql+psycopg://u:secret-9@h:5432/db?sslpassword=x",
            "u:***@h:5432/db?sslpassword=***",
        ),
    ],
)
def test_a_password_is_masked_however_the_url_is_written(url: str, shown: str) -> None:
    assert shown in mask_url(url) and "secret-9" not in mask_url(url)


@pytest.mark.unit
@pytest.mark.parametrize(
    "url",
    [
        "postgresql//u:secret-9@h/db",
        "postgresql+psycopg://u:secret-9@h:abc/db",  # a port that is not a number
        "postgresql+psycopg://u:p@ss-secret-9@h:x/db",
    ],
)
def test_a_database_url_that_does_not_parse_is_named_masked(
    env: pytest.MonkeyPatch, url: str
) -> None:
    code, output = migrate(env, AFTERCARE_DATABASE_URL=url)
    assert code == 2
    told(output, "AFTERCARE_DATABASE_URL=", "u:***@h", "is not a database URL", "fix:")
    assert "secret-9" not in output


def test_a_password_in_the_query_is_masked_when_connecting(env: pytest.MonkeyPatch) -> None:
    code, output = migrate(
        env, AFTERCARE_DATABASE_URL="postgresql+psycopg://u@127.0.0.1:1/db?password=secret-9"
    )
    assert code == 3
    told(output, "does not answer", "u@127.0.0.1:1/db?password=***")
    assert "secret-9" not in output


@pytest.mark.unit
def test_a_password_holding_an_at_sign_is_refused_masked(env: pytest.MonkeyPatch) -> None:
    # SQLAlchemy reads `u:p@ss@host` as the host `ss@host`: never connected to, never shown.
    code, output = migrate(
        env, AFTERCARE_DATABASE_URL="postgresql+psycopg://u:p@ss-secret-9@127.0.0.1:1/db"
    )
    assert code == 2
    told(output, "AFTERCARE_DATABASE_URL=postgresql+psycopg://u:***@127.0.0.1:1/db", "%40")
    assert "secret-9" not in output


@pytest.mark.unit
@pytest.mark.parametrize("url", ["", CLOSED_PORT_URL])
def test_an_unwritable_output_is_not_taken_for_a_database_mistake(
    env: pytest.MonkeyPatch, tmp_path: Path, url: str
) -> None:
    if url:
        env.setenv("AFTERCARE_DATABASE_URL", url)
    missing = tmp_path / "missing" / "openapi.json"
    result = runner.invoke(cli, ["openapi", "--output", str(missing)])
    assert result.exit_code == 2
    assert result.stderr == f"error: cannot write {missing}: No such file or directory\n"


def test_a_statement_timeout_is_not_taken_for_postgresql_down(
    pg_available: bool, env: pytest.MonkeyPatch
) -> None:
    if not pg_available:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    pg_url = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"

    async def slow_query() -> BaseException:
        engine = create_engine_for(pg_url, pool_size=1)
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SET statement_timeout = 1"))
                await conn.execute(text("SELECT pg_sleep(1)"))
        except Exception as exc:
            return exc
        finally:
            await engine.dispose()
        raise AssertionError("the statement did not time out")

    error = asyncio.run(slow_query())
    assert "statement timeout" in str(error)
    assert explain_database_error(error, Settings(database_url=pg_url)) is None


def test_a_second_serve_cannot_take_the_port_the_first_holds() -> None:
    first = bind_listeners("127.0.0.1", 0)
    try:
        port = first[0].getsockname()[1]
        with pytest.raises(StartupMistake, match="Address already in use") as refused:
            bind_listeners("127.0.0.1", port)
        assert "stop the process using that port" in refused.value.fix
    finally:
        for listener in first:
            listener.close()
