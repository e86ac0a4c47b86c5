"""Migrations upgrade a database that already holds data, on both databases, and leave the
schema exactly as the models describe it."""

import asyncio
import uuid
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.core.clock import FixedClock
from app.core.config import Settings
from app.core.db import create_engine_for
from app.core.migrations import head_revision, upgrade
from app.core.models import UTCDateTime
from app.main import create_app
from app.models import Base
from tests.helpers import TEST_SECRET, mint, procedure_body, report_body

FIRST_REVISION = "20261121_0001"
NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)

# The tables as they stood at FIRST_REVISION; seeding through these (not the current models)
# keeps this test meaningful as later migrations change the tables.
_clinics = sa.table(
    "clinics",
    sa.column("id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("created_at", UTCDateTime()),
)
_staff = sa.table(
    "staff_users",
    sa.column("id", sa.Uuid()),
    sa.column("clinic_id", sa.Uuid()),
    sa.column("email", sa.String()),
    sa.column("name", sa.String()),
    sa.column("role", sa.String()),
    sa.column("password_hash", sa.String()),
    sa.column("created_at", UTCDateTime()),
)
_patients = sa.table(
    "patients",
    sa.column("id", sa.Uuid()),
    sa.column("clinic_id", sa.Uuid()),
    sa.column("mrn", sa.String()),
    sa.column("display_name", sa.String()),
    sa.column("birth_date", sa.Date()),
    sa.column("timezone", sa.String()),
    sa.column("temperature_unit", sa.String()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)


async def _seed_first_revision(url: str) -> dict[str, uuid.UUID]:
    ids = {"clinic": uuid.uuid4(), "staff": uuid.uuid4(), "patient": uuid.uuid4()}
    engine = create_engine_for(url, pool_size=1)
    async with engine.begin() as conn:
        await conn.execute(
            _clinics.insert().values(id=ids["clinic"], name="Old clinic", created_at=NOW)
        )
        await conn.execute(
            _staff.insert().values(
                id=ids["staff"],
                clinic_id=ids["clinic"],
                email=f"old-{ids['staff'].hex[:6]}@clinic.example",
                name="Old admin",
                role="admin",
                password_hash="x",
                created_at=NOW,
            )
        )
        await conn.execute(
            _patients.insert().values(
                id=ids["patient"],
                clinic_id=ids["clinic"],
                mrn="OLD-1",
                display_name="Old Patient",
                birth_date=None,
                timezone="Europe/Paris",
                temperature_unit="C",
                created_at=NOW,
                updated_at=NOW,
            )
        )
    await engine.dispose()
    return ids


async def _schema_diff(url: str) -> list[object]:
    engine = create_engine_for(url, pool_size=1)
    async with engine.connect() as conn:
        diff = await conn.run_sync(
            lambda sync: compare_metadata(
                MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
            )
        )
    await engine.dispose()
    return list(diff)


async def _readyz(url: str) -> httpx.Response:
    app = create_app(Settings(database_url=url, secret_key=TEST_SECRET), FixedClock(NOW))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        return await client.get("/readyz")


def test_upgrade_keeps_existing_data_and_it_stays_usable(
    backend: str, empty_database_factory: object
) -> None:
    url: str = empty_database_factory(backend)  # type: ignore[operator]
    asyncio.run(upgrade(url, FIRST_REVISION))
    ids = asyncio.run(_seed_first_revision(url))
    behind = asyncio.run(_readyz(url))
    assert behind.status_code == 503 and behind.json()["database"] == "behind"

    asyncio.run(upgrade(url))  # on SQLite this also runs PRAGMA foreign_key_check

    assert asyncio.run(_schema_diff(url)) == []
    ready = asyncio.run(_readyz(url))
    assert ready.status_code == 200 and ready.json()["schema_revision"] == head_revision()

    async def use_it() -> None:
        app = create_app(Settings(database_url=url, secret_key=TEST_SECRET), FixedClock(NOW))
        staff = {"Authorization": f"Bearer {mint('admin', ids['staff'], ids['clinic'], NOW)}"}
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t"
            ) as client,
        ):
            patient = await client.get(f"/v1/patients/{ids['patient']}", headers=staff)
            assert patient.status_code == 200 and patient.json()["mrn"] == "OLD-1"
            procedure = await client.post(
                f"/v1/patients/{ids['patient']}/procedures", json=procedure_body(), headers=staff
            )
            assert procedure.status_code == 201
            report = await client.post(
                f"/v1/procedures/{procedure.json()['id']}/reports",
                json=report_body(),
                headers=staff,
            )
            assert report.status_code == 201

    asyncio.run(use_it())


def test_upgrading_twice_is_a_no_op(backend: str, database_url: str) -> None:
    asyncio.run(upgrade(database_url))
    assert asyncio.run(_schema_diff(database_url)) == []


@pytest.mark.postgres_only
def test_readyz_is_503_when_the_database_is_unreachable(backend: str, pg_available: bool) -> None:
    if not pg_available:
        pytest.skip("PostgreSQL is not reachable")
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/missing_{uuid.uuid4().hex[:8]}"
    response = asyncio.run(_readyz(url))
    assert response.status_code == 503 and response.json()["database"] == "unreachable"
