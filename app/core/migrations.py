"""Alembic, driven from code: `aftercare serve|migrate`, readiness and tests share it."""

from functools import cache
from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection

from app.core.db import IMMEDIATE, create_engine_for, is_sqlite


# The repository's migrations/, installed as this package (pyproject.toml's package-dir): the
# same files from a checkout, an editable install or a wheel. A regular package on disk, so its
# resource root is a real directory alembic can read env.py and versions/ from.
def _migrations_dir() -> Path:
    try:
        return Path(str(files("app._migrations")))
    except ModuleNotFoundError:  # a checkout run without installing, or an install from before
        return Path(__file__).resolve().parents[2] / "migrations"


MIGRATIONS_DIR = _migrations_dir()
_PG_MIGRATION_LOCK = 0x4166746572  # any constant shared by every process of this service


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


@cache
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


class ForeignKeyViolation(RuntimeError):
    pass


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


async def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade in one transaction. Two processes starting together take turns: an advisory
    lock on PostgreSQL, BEGIN IMMEDIATE on SQLite."""
    sqlite = is_sqlite(url)
    engine = create_engine_for(url, pool_size=1, foreign_keys=False)
    try:
        async with engine.connect() as conn:
            if sqlite:
                conn = await conn.execution_options(**{IMMEDIATE: True})
            async with conn.begin():
                if not sqlite:
                    await conn.execute(
                        text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK}
                    )
                await conn.run_sync(_upgrade, revision)
                if sqlite:
                    await _check_foreign_keys(conn)
    finally:
        await engine.dispose()


async def _check_foreign_keys(conn: AsyncConnection) -> None:
    violations = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).fetchall()
    if violations:
        raise ForeignKeyViolation(f"migration left rows that break foreign keys: {violations[:5]}")


async def current_revision(conn: AsyncConnection) -> str | None:
    row = (await conn.execute(text("SELECT version_num FROM alembic_version"))).first()
    return None if row is None else str(row[0])
