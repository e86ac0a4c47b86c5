import asyncio
import json
import uuid
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from app.cli import cli
from app.core.db import create_engine_for, is_sqlite
from app.core.migrations import alembic_config, head_revision, upgrade

runner = CliRunner()


def test_create_admin_migrates_and_prints_ids(fresh_url: str) -> None:
    email = f"founder-{uuid.uuid4().hex[:6]}@clinic.example"
    args = [
        "create-admin",
        "--clinic",
        "North Clinic",
        "--email",
        email,
        "--password",
        "a-long-password-1",
    ]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(printed) == {"clinic_id", "user_id"}
    uuid.UUID(printed["clinic_id"]), uuid.UUID(printed["user_id"])
    again = runner.invoke(cli, args)
    assert again.exit_code == 1 and "already exists" in again.output


def test_create_admin_refuses_a_weak_password(fresh_url: str) -> None:
    result = runner.invoke(
        cli, ["create-admin", "--clinic", "C", "--email", "a@clinic.example", "--password", "short"]
    )
    assert result.exit_code == 2 and "password" in result.output


def test_migrate(fresh_url: str) -> None:
    result = runner.invoke(cli, ["migrate"])
    assert result.exit_code == 0 and "latest schema" in result.stdout


def _tables(url: str) -> list[str]:
    """The database's tables; for SQLite, also whether its file exists at all."""
    if is_sqlite(url):
        path = Path(make_url(url).database or "")
        if not path.exists():
            return ["(no file)"]

    async def read() -> list[str]:
        engine = create_engine_for(url, pool_size=1)
        try:
            async with engine.connect() as conn:
                return list(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_dry_run_refuses_a_database_not_at_the_head_revision(fresh_url: str) -> None:
    """A dry run writes nothing, not even the schema: it does not migrate, it refuses."""
    args = ["rules", "dry-run", "--clinic", str(uuid.uuid4()), "--version", "2"]
    empty = runner.invoke(cli, args)
    assert empty.exit_code == 1
    assert empty.output.strip().splitlines() == [
        f"error: the database schema is at revision (none), not {head_revision()}; run "
        "`aftercare migrate` first (a dry run changes nothing, the schema included)"
    ]
    assert _tables(fresh_url) in ([], ["(no file)"])

    head = head_revision()
    assert head is not None
    previous = ScriptDirectory.from_config(alembic_config()).get_revision(head)
    assert isinstance(previous.down_revision, str)
    asyncio.run(upgrade(fresh_url, previous.down_revision))
    behind = runner.invoke(cli, args)
    assert behind.exit_code == 1 and f"at revision {previous.down_revision}," in behind.output

    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    at_head = runner.invoke(cli, args)  # past the check: the clinic does not exist
    assert at_head.exit_code == 1 and "error: clinic not found" in at_head.output
