import json
import uuid

import pytest
from typer.testing import CliRunner

from app.cli import cli

runner = CliRunner()


@pytest.fixture
def fresh_url(backend: str, empty_database_factory: object, monkeypatch: pytest.MonkeyPatch) -> str:
    url: str = empty_database_factory(backend)  # type: ignore[operator]
    monkeypatch.setenv("AFTERCARE_DATABASE_URL", url)
    monkeypatch.setenv("AFTERCARE_SECRET_KEY", "cli-test-secret-key-0123456789-abcdefghij")
    return url


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


def test_demo_seeds_once_and_says_how_to_log_in(fresh_url: str) -> None:
    first = runner.invoke(cli, ["demo"])
    assert first.exit_code == 0, first.output
    seeded = json.loads(first.stdout[first.stdout.index("{") :])
    assert seeded["admin_email"] and len(seeded["enrollment_codes"]) == 3
    second = runner.invoke(cli, ["demo"])
    assert json.loads(second.stdout[second.stdout.index("{") :])["already_seeded"] is True


def test_migrate(fresh_url: str) -> None:
    result = runner.invoke(cli, ["migrate"])
    assert result.exit_code == 0 and "latest schema" in result.stdout
