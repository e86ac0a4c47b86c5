"""Test harness: every test runs against SQLite and (when a server is there) PostgreSQL.

Each backend gets a fresh database per test session, built by Alembic; each test gets its own
app, clock and HTTP client. Tests isolate themselves by working in clinics of their own, so
the data other tests leave behind is just another tenant's, and must stay invisible.

Under pytest-xdist every worker is a session of its own: its own databases, world and PHI
check (tests/phi_guard.py). So test ids must not hold random values (each worker collects the
tests and all must find the same ones), and a test that needs a port asks the system for one.
"""

import asyncio
import functools
import inspect
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict

import httpx
import psycopg
import pytest

from app.core.clock import FixedClock
from app.core.config import Settings
from app.core.migrations import upgrade
from app.main import create_app
from app.worker.loop import Worker
from tests.helpers import PG_ADMIN_DSN, TEST_SECRET, Api, World, build_world
from tests.receiver import Receiver

REQUIRE_PG = os.environ.get("AFTERCARE_REQUIRE_POSTGRES", "") == "1"
START = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
# No patient data in any log line or audit event of the whole run (tests/phi_guard.py).
pytest_plugins = ["tests.phi_guard"]


# What a `unit` test may not use: each one needs a database, a server or a running app. The
# fixtures are checked, not what a test does with its own hands; the marker's description in
# pyproject.toml says the rest.
NOT_FOR_UNIT_TESTS = frozenset(
    {"backend", "pg_available", "database_url", "fresh_url", "world", "settings", "api"}
    | {"worker", "receiver", "empty_database_factory", "subprocess_output_dir"}
)
# In every test's set-up (the autouse PHI check depends on them, and they start nothing): only
# a test that asks for one itself is using it.
PHI_CHECK_FIXTURES = frozenset({"empty_database_factory", "subprocess_output_dir"})


@functools.cache
def postgres_available() -> bool:
    """Asked once, and only when a test wants PostgreSQL: `pytest -m unit` never connects."""
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            available = True
    except psycopg.Error:
        available = False
    if REQUIRE_PG and not available:
        pytest.exit(f"AFTERCARE_REQUIRE_POSTGRES=1 but {PG_ADMIN_DSN} is unreachable", returncode=3)
    return available


def services_used(fixturenames: Iterable[str], arguments: Iterable[str]) -> set[str]:
    """The fixtures of NOT_FOR_UNIT_TESTS a test uses: `fixturenames` is everything it sets up,
    `arguments` what it asks for itself."""
    used = set(fixturenames) - PHI_CHECK_FIXTURES
    return (used | set(arguments)) & NOT_FOR_UNIT_TESTS


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: the test is about SQLite alone")
    config.addinivalue_line("markers", "postgres_only: the test is about PostgreSQL alone")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keeps the `unit` marker honest on every run, not only on `pytest -m unit`."""
    dishonest = []
    for item in items:
        if isinstance(item, pytest.Function) and item.get_closest_marker("unit"):
            arguments = inspect.signature(item.function).parameters
            used = services_used(item.fixturenames, arguments)
            if used:
                dishonest.append(f"{item.nodeid} uses {', '.join(sorted(used))}")
    if dishonest:
        raise pytest.UsageError(
            "tests marked `unit` may not use a database, server or app fixture:\n  "
            + "\n  ".join(dishonest)
        )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        backends = ["sqlite", "postgresql"]
        if metafunc.definition.get_closest_marker("sqlite_only"):
            backends = ["sqlite"]
        if metafunc.definition.get_closest_marker("postgres_only"):
            backends = ["postgresql"]
        metafunc.parametrize("backend", backends, scope="session")


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def pg_available() -> bool:
    return postgres_available()


def create_pg_database(name: str) -> str:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def drop_pg_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# `empty_database_factory`: a backend's name in, the URL of a new empty database out.
DatabaseFactory = Callable[[str], str]


@pytest.fixture(scope="session")
def postgres_databases() -> list[str]:
    """The name of every PostgreSQL database `empty_database_factory` made this session."""
    return []


@pytest.fixture(scope="session")
def empty_database_factory(
    tmp_path_factory: pytest.TempPathFactory, postgres_databases: list[str]
) -> Iterator[DatabaseFactory]:
    """Makes empty databases of either kind; drops every PostgreSQL one at the end (after
    `phi_hygiene`, which depends on this fixture, has read them)."""
    made = postgres_databases

    def make(backend: str) -> str:
        if backend == "sqlite":
            path: Path = tmp_path_factory.mktemp("db") / f"{uuid.uuid4().hex}.db"
            return f"sqlite+aiosqlite:///{path}"
        if not postgres_available():
            pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
        name = f"aftercare_test_{uuid.uuid4().hex[:12]}"
        made.append(name)
        return create_pg_database(name)

    yield make
    for name in made:
        drop_pg_database(name)


@pytest.fixture
def fresh_url(
    backend: str, empty_database_factory: DatabaseFactory, monkeypatch: pytest.MonkeyPatch
) -> str:
    """An empty database of its own, named in the environment as the `aftercare` command
    reads it (the CLI tests)."""
    url = empty_database_factory(backend)
    monkeypatch.setenv("AFTERCARE_DATABASE_URL", url)
    monkeypatch.setenv("AFTERCARE_SECRET_KEY", TEST_SECRET)
    return url


@pytest.fixture(scope="session")
def database_url(backend: str, empty_database_factory: DatabaseFactory) -> str:
    url = empty_database_factory(backend)
    asyncio.run(upgrade(url))
    return url


@pytest.fixture(scope="session")
def world(database_url: str) -> World:
    return asyncio.run(build_world(database_url, START))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


# Tests sign in, enrol and post reports far faster than people do, all from one address:
# limits out of their way (tests/test_throttling.py checks the real ones).
class Limits(TypedDict):
    login_failures_per_account_per_minute: int
    auth_attempts_per_address_per_minute: int
    reports_per_caller_per_minute: int


UNTHROTTLED = Limits(
    login_failures_per_account_per_minute=1000,
    auth_attempts_per_address_per_minute=100_000,
    reports_per_caller_per_minute=100_000,
)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url, secret_key=TEST_SECRET, db_pool_size=5, **UNTHROTTLED
    )


@pytest.fixture
async def api(settings: Settings, clock: FixedClock, world: World) -> AsyncIterator[Api]:
    app = create_app(settings, clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://aftercare.test"
        ) as client:
            yield Api(client, app, world, clock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real webhook receiver on 127.0.0.1 (tests/receiver.py)."""
    running = Receiver().start()
    yield running
    running.stop()


@pytest.fixture
async def worker(api: Api) -> AsyncIterator[Worker]:
    """The worker on the test's app, driven by hand (run_once, run_until_idle, run_timers)."""
    running = Worker(api.app.state.services)
    yield running
    await running.aclose()
