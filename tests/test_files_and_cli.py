"""The SQLite data directory is made 0700 and its database files 0600 whatever the umask;
`create-admin` takes the password from a hidden prompt, a file or a variable, not only the
command line; `aftercare demo` seeds only a database without clinics, with random passwords."""

import asyncio
import json
import os
import stat
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from app.cli import cli
from app.core.config import Settings
from app.core.db import Database
from app.main import create_app
from app.patients.models import Patient
from app.staff.models import Clinic
from tests.helpers import TEST_SECRET, insert_clinic

runner = CliRunner()
PASSWORD = "a-long-passphrase-for-the-admin-7"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The common 022: without care, files would be made readable by every local user."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


async def _write_a_patient_then(url: str, look: Any) -> Any:
    """A patient created through the API on the database at `url`; `look()` runs while the
    app still holds its connections (so the -wal and -shm files exist)."""
    app = create_app(Settings(database_url=url))
    async with app.router.lifespan_context(app):
        db = app.state.services.db
        clinic = await insert_clinic(db, datetime.now(UTC), "not-a-password-hash")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            body = {"mrn": "MRN-1", "display_name": "A", "timezone": "UTC", "temperature_unit": "C"}
            created = await client.post("/v1/patients", json=body, headers=clinic.admin.headers)
            assert created.status_code == 201, created.text
        return look()


def test_the_data_directory_is_0700_and_the_database_files_0600(
    tmp_path: Path, permissive_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "deploy" / "var"
    database = data / "aftercare.db"
    url = f"sqlite+aiosqlite:///{database}"
    monkeypatch.setenv("AFTERCARE_DATABASE_URL", url)
    monkeypatch.setenv("AFTERCARE_SECRET_KEY", TEST_SECRET)  # the key insert_clinic signs with
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    assert (mode(data), mode(database)) == (0o700, 0o600)

    def side_files() -> dict[str, int]:
        return {p.name: mode(p) for p in data.iterdir() if p != database}

    found = asyncio.run(_write_a_patient_then(url, side_files))
    assert found == {"aftercare.db-wal": 0o600, "aftercare.db-shm": 0o600}


def test_an_existing_database_readable_by_others_is_made_private(
    tmp_path: Path, permissive_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An existing directory is left as it is: it may be shared (like /tmp)."""
    database = tmp_path / "aftercare.db"
    monkeypatch.setenv("AFTERCARE_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    database.chmod(0o644)
    tmp_path.chmod(0o755)
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    assert (mode(tmp_path), mode(database)) == (0o755, 0o600)


async def _signs_in(url: str, email: str, password: str) -> bool:
    app = create_app(Settings(database_url=url))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answer = await client.post(
                "/v1/auth/token", data={"username": email, "password": password}
            )
    assert answer.status_code in (200, 400), answer.text  # 400: OAuth invalid_grant
    return answer.status_code == 200


def _create_admin(*options: str, **invoke: Any) -> tuple[str, Any]:
    email = f"admin-{uuid.uuid4().hex[:8]}@clinic.example"
    args = ["create-admin", "--clinic", "North", "--email", email, *options]
    return email, runner.invoke(cli, args, **invoke)


def test_create_admin_asks_for_the_password_hidden_and_twice(fresh_url: str) -> None:
    typed = f"{PASSWORD}\nsomething-else-entirely\n{PASSWORD}\n{PASSWORD}\n"
    email, result = _create_admin(input=typed)
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output  # asked again after a mismatch
    assert PASSWORD not in result.output  # not echoed
    assert asyncio.run(_signs_in(fresh_url, email, PASSWORD))


def test_create_admin_reads_a_password_file_or_the_variable(
    fresh_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_file = tmp_path / "admin-password"
    secret_file.write_text(f"{PASSWORD}\n")
    from_file, result = _create_admin("--password-file", str(secret_file))
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("AFTERCARE_ADMIN_PASSWORD", PASSWORD + "-env")
    from_variable, result = _create_admin()
    assert result.exit_code == 0, result.output
    assert asyncio.run(_signs_in(fresh_url, from_file, PASSWORD))  # without the newline
    assert asyncio.run(_signs_in(fresh_url, from_variable, PASSWORD + "-env"))


def test_create_admin_refuses_two_passwords_or_an_unreadable_file(
    fresh_url: str, tmp_path: Path
) -> None:
    secret_file = tmp_path / "admin-password"
    secret_file.write_text(PASSWORD)
    _, both = _create_admin("--password", PASSWORD, "--password-file", str(secret_file))
    assert both.exit_code == 2 and "one way" in both.output
    _, missing = _create_admin("--password-file", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2 and "cannot read" in missing.output
    assert runner.invoke(cli, ["migrate"]).exit_code == 0
    assert asyncio.run(_count(fresh_url, Clinic)) == 0
    helped = runner.invoke(cli, ["create-admin", "--help"]).output.replace("│", " ")
    assert "visible to every local user in the process list" in " ".join(helped.split())


async def _count(url: str, table: type[Any]) -> int:
    db = Database(url, pool_size=1)
    try:
        async with db.read() as session:
            return int(await session.scalar(select(func.count()).select_from(table)) or 0)
    finally:
        await db.dispose()


def test_demo_refuses_a_database_with_other_clinics(fresh_url: str) -> None:
    _, made = _create_admin("--password", PASSWORD)
    assert made.exit_code == 0, made.output
    refused = runner.invoke(cli, ["demo"])
    assert refused.exit_code == 1
    assert "1 clinic(s) besides the demo clinic" in refused.output
    assert "admin@demo.aftercare.example" in refused.output
    assert asyncio.run(_count(fresh_url, Clinic)) == 1
    assert asyncio.run(_count(fresh_url, Patient)) == 0


def test_demo_prints_random_passwords_that_sign_in(fresh_url: str) -> None:
    seeded = runner.invoke(cli, ["demo"])
    assert seeded.exit_code == 0, seeded.output
    printed = json.loads(seeded.stdout[seeded.stdout.index("{") :])
    admin, clinician = printed["admin_password"], printed["clinician_password"]
    assert len(admin) >= 20 and admin != clinician and "demo-password-123" not in seeded.stdout
    assert asyncio.run(_signs_in(fresh_url, printed["admin_email"], admin))
    assert not asyncio.run(_signs_in(fresh_url, printed["admin_email"], "demo-password-123"))
    assert set(printed["patient_ids"]) == set(printed["enrollment_codes"])
    series = printed["patient_ids"]["DEMO-0001"]
    assert printed["links"]["outcomes_chart"].endswith(f"/v1/patients/{series}/outcomes.svg")
    assert f"sign in as {printed['admin_email']}" in seeded.stderr
    again = runner.invoke(cli, ["demo"])
    # The ids and links again, not the passwords (only their hashes are kept).
    assert json.loads(again.stdout[again.stdout.index("{") :]) == {
        "already_seeded": True,
        "passwords": "shown once, by the run that seeded it",
        **{k: printed[k] for k in ("clinic_id", "admin_email", "clinician_email")},
        **{k: printed[k] for k in ("patient_ids", "links")},
    }
