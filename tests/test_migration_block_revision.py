"""Migration 20261202_0012 (block revisions kept by triggers) on a database that already holds
a block with reports, a check-in and an open alert: the block starts at revision 0, a report
posted through the API bumps it and shows in the (cached) summary, and the downgrade takes
every trigger away."""

import asyncio
import uuid
from datetime import timedelta

import httpx
import sqlalchemy as sa
from alembic import command
from sqlalchemy import Connection

from app.core.clock import FixedClock
from app.core.config import Settings
from app.core.db import create_engine_for, is_sqlite
from app.core.migrations import alembic_config, upgrade
from app.core.models import UTCDateTime
from app.main import create_app
from tests.conftest import DatabaseFactory
from tests.helpers import TEST_SECRET, mint, report_body
from tests.test_migrations import (
    NOW,
    _alerts,
    _procedures,
    _schema_diff,
    _seed_first_revision,
    block_row,
)

BEFORE_REVISIONS = "20261201_0011"
PERFORMED = NOW - timedelta(minutes=90)

# The tables as they stood at BEFORE_REVISIONS.
_reports = sa.table(
    "reports",
    *(sa.column(n, sa.Uuid()) for n in ("id", "clinic_id", "patient_id", "procedure_id")),
    sa.column("client_report_id", sa.Uuid()),
    sa.column("request_digest", sa.String()),
    sa.column("recorded_at", UTCDateTime()),
    sa.column("received_at", UTCDateTime()),
    sa.column("pain_score", sa.Integer()),
    sa.column("relief_percent", sa.Integer()),
    sa.column("side_effects", sa.JSON()),
    sa.column("rule_set_version", sa.Integer()),
)
_checkins = sa.table(
    "checkins",
    sa.column("id", sa.Uuid()),
    sa.column("procedure_id", sa.Uuid()),
    sa.column("due_at", UTCDateTime()),
    sa.column("closes_at", UTCDateTime()),
    sa.column("status", sa.String()),
)
_CHILDREN = ("reports", "alerts", "checkins")
TRIGGERS = {
    "sqlite": {f"{t}_touch_block_{e}" for t in _CHILDREN for e in ("insert", "update", "delete")}
    | {"procedures_bump_revision"},
    "postgresql": {f"{t}_touch_block" for t in _CHILDREN}
    | {"procedures_bump_revision", "aftercare_touch_block", "aftercare_bump_revision"},
}
_revisions = sa.table("procedures", sa.column("id", sa.Uuid()), sa.column("revision", sa.Integer()))


async def _seed_block(url: str) -> dict[str, uuid.UUID]:
    ids = await _seed_first_revision(url)
    ids |= {"procedure": uuid.uuid4(), "report": uuid.uuid4(), "alert": uuid.uuid4()}
    owner = {"clinic_id": ids["clinic"], "patient_id": ids["patient"]}
    engine = create_engine_for(url, pool_size=1)
    async with engine.begin() as conn:
        await conn.execute(_procedures.insert().values(block_row(ids, PERFORMED)))
        for report_id, minutes, pain in ((ids["report"], 15, 6), (uuid.uuid4(), 30, 3)):
            at = PERFORMED + timedelta(minutes=minutes)
            await conn.execute(
                _reports.insert().values(
                    id=report_id,
                    **owner,
                    procedure_id=ids["procedure"],
                    client_report_id=uuid.uuid4(),
                    request_digest="0" * 64,
                    recorded_at=at,
                    received_at=at,
                    pain_score=pain,
                    relief_percent=None,
                    side_effects=[{"kind": "soreness", "severity": "mild"}],
                    rule_set_version=1,
                )
            )
        await conn.execute(
            _checkins.insert().values(
                id=uuid.uuid4(),
                procedure_id=ids["procedure"],
                due_at=PERFORMED + timedelta(hours=1),
                closes_at=PERFORMED + timedelta(hours=3),
                status="pending",
            )
        )
        await conn.execute(
            _alerts.insert().values(
                id=ids["alert"],
                **owner,
                procedure_id=ids["procedure"],
                report_id=ids["report"],
                rule_id="pain_flare",
                rule_version=1,
                severity="routine",
                severity_rank=2,
                title="pain_flare",
                explanation=["seeded"],
                status="open",
                created_at=PERFORMED,
                last_triggered_at=PERFORMED,
                occurrences=1,
            )
        )
    await engine.dispose()
    return ids


async def _revision(url: str, procedure_id: uuid.UUID) -> int:
    engine = create_engine_for(url, pool_size=1)
    async with engine.connect() as conn:
        value = await conn.scalar(
            sa.select(_revisions.c.revision).where(_revisions.c.id == procedure_id)
        )
    await engine.dispose()
    assert isinstance(value, int)
    return value


async def _counts(url: str) -> tuple[int, int, int]:
    """Reports, check-ins and alerts in the database (one of its own: only the seeded ones)."""
    engine = create_engine_for(url, pool_size=1)
    async with engine.connect() as conn:
        counts = [
            await conn.scalar(sa.select(sa.func.count()).select_from(table))
            for table in (_reports, _checkins, _alerts)
        ]
    await engine.dispose()
    return counts[0] or 0, counts[1] or 0, counts[2] or 0


def _downgrade(connection: Connection, revision: str) -> None:
    command.downgrade(alembic_config(connection), revision)


async def _downgrade_to(url: str, revision: str) -> None:
    """As app/core/migrations.py's upgrade runs alembic: one transaction, foreign keys off."""
    engine = create_engine_for(url, pool_size=1, foreign_keys=False)
    async with engine.begin() as conn:
        await conn.run_sync(_downgrade, revision)
        if is_sqlite(url):
            assert (await conn.exec_driver_sql("PRAGMA foreign_key_check")).fetchall() == []
    await engine.dispose()


async def _triggers(url: str) -> set[str]:
    """The migration's triggers (and, on PostgreSQL, their functions) in the database."""
    if is_sqlite(url):
        queries = [
            "SELECT name FROM sqlite_master WHERE type = 'trigger' "
            "AND (name LIKE '%touch_block%' OR name = 'procedures_bump_revision')"
        ]
    else:
        queries = [
            "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal "
            "AND (tgname LIKE '%touch_block%' OR tgname = 'procedures_bump_revision')",
            "SELECT proname FROM pg_proc "
            "WHERE proname IN ('aftercare_touch_block', 'aftercare_bump_revision')",
        ]
    engine = create_engine_for(url, pool_size=1)
    async with engine.connect() as conn:
        names = {row[0] for query in queries for row in await conn.execute(sa.text(query))}
    await engine.dispose()
    return names


def test_block_revision_migration_on_a_block_with_data_and_back(
    backend: str, empty_database_factory: DatabaseFactory
) -> None:
    url = empty_database_factory(backend)
    asyncio.run(upgrade(url, BEFORE_REVISIONS))
    ids = asyncio.run(_seed_block(url))

    asyncio.run(upgrade(url))

    assert asyncio.run(_schema_diff(url)) == []
    assert asyncio.run(_revision(url, ids["procedure"])) == 0
    assert asyncio.run(_counts(url)) == (2, 1, 1)
    assert asyncio.run(_triggers(url)) == TRIGGERS[backend]

    async def post_a_report() -> None:
        app = create_app(Settings(database_url=url, secret_key=TEST_SECRET), FixedClock(NOW))
        token = await mint(app.state.services.db, "admin", ids["staff"], ids["clinic"], NOW)
        staff = {"Authorization": f"Bearer {token}"}
        summary_url = f"/v1/procedures/{ids['procedure']}/summary"
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
        ):
            before = await c.get(summary_url, headers=staff)
            assert before.status_code == 200, before.text
            summary = before.json()
            assert (summary["report_count"], summary["latest_pain"]) == (2, 3)
            assert summary["side_effects"] == {"soreness": 2}
            assert [a["id"] for a in summary["alerts"]] == [str(ids["alert"])]
            assert await _revision(url, ids["procedure"]) == 0  # reading bumps nothing

            posted = await c.post(
                f"/v1/procedures/{ids['procedure']}/reports",
                json=report_body(pain_score=2),
                headers=staff,
            )
            assert posted.status_code == 201, posted.text

            after = (await c.get(summary_url, headers=staff)).json()
            assert (after["report_count"], after["latest_pain"]) == (3, 2)

    asyncio.run(post_a_report())
    assert asyncio.run(_revision(url, ids["procedure"])) > 0

    asyncio.run(_downgrade_to(url, BEFORE_REVISIONS))
    assert asyncio.run(_triggers(url)) == set()
    assert asyncio.run(_counts(url)) == (3, 1, 1)

    asyncio.run(upgrade(url))
    assert asyncio.run(_schema_diff(url)) == []
    assert asyncio.run(_triggers(url)) == TRIGGERS[backend]
    assert asyncio.run(_revision(url, ids["procedure"])) == 0
