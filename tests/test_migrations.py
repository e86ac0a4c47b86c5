"""Migrations upgrade a database that already holds data, on both databases, and leave the
schema exactly as the models describe it."""

import asyncio
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta

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
from app.core.security import digest
from app.main import create_app
from app.models import Base
from app.reports.schemas import ReportIn
from app.webhooks.signing import new_secret
from app.worker.loop import Worker
from tests.conftest import DatabaseFactory
from tests.helpers import TEST_SECRET, mint, procedure_body, report_body
from tests.receiver import Receiver

FIRST_REVISION = "20261121_0001"
BEFORE_ESCALATION = "20261121_0004"
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


# The tables as they stood at BEFORE_ESCALATION (revisions 0002-0004).
_json = sa.JSON()
_procedures = sa.table(
    "procedures",
    *(sa.column(name, sa.Uuid()) for name in ("id", "clinic_id", "patient_id", "created_by")),
    sa.column("sequence_number", sa.Integer()),
    sa.column("performed_at", UTCDateTime()),
    sa.column("side", sa.String()),
    sa.column("levels", _json),
    sa.column("indication", sa.String()),
    sa.column("baseline_pain", sa.Integer()),
    sa.column("baseline_symptoms", _json),
    sa.column("anesthetic", _json),
    sa.column("steroid", _json),
    sa.column("sedation", sa.Boolean()),
    sa.column("notes", sa.Text()),
    sa.column("created_at", UTCDateTime()),
    sa.column("no_relief_checked_at", UTCDateTime()),
)
_alerts = sa.table(
    "alerts",
    *(sa.column(name, sa.Uuid()) for name in ("id", "clinic_id", "patient_id", "procedure_id")),
    sa.column("report_id", sa.Uuid()),
    sa.column("rule_id", sa.String()),
    sa.column("rule_version", sa.Integer()),
    sa.column("severity", sa.String()),
    sa.column("severity_rank", sa.Integer()),
    sa.column("title", sa.String()),
    sa.column("explanation", _json),
    sa.column("status", sa.String()),
    sa.column("created_at", UTCDateTime()),
    sa.column("last_triggered_at", UTCDateTime()),
    sa.column("occurrences", sa.Integer()),
    sa.column("acknowledged_at", UTCDateTime()),
    sa.column("acknowledged_by", sa.Uuid()),
    sa.column("acknowledgement_note", sa.Text()),
    sa.column("resolved_at", UTCDateTime()),
    sa.column("resolved_by", sa.Uuid()),
    sa.column("resolution_note", sa.Text()),
)


def block_row(ids: dict[str, uuid.UUID], performed_at: datetime) -> dict[str, object]:
    """Block 1 of the seeded patient, as a `procedures` row of these early revisions."""
    return {
        "id": ids["procedure"],
        "clinic_id": ids["clinic"],
        "patient_id": ids["patient"],
        "created_by": ids["staff"],
        "sequence_number": 1,
        "performed_at": performed_at,
        "side": "left",
        "levels": ["L2", "L3"],
        "indication": "crps",
        "baseline_pain": 7,
        "baseline_symptoms": [],
        "anesthetic": None,
        "steroid": None,
        "sedation": False,
        "notes": None,
        "created_at": performed_at,
        "no_relief_checked_at": None,
    }


async def _seed_before_escalation(url: str) -> dict[str, uuid.UUID]:
    ids = await _seed_first_revision(url)
    ids["procedure"] = uuid.uuid4()
    alerts = {  # name: (rule, severity, rank, status, created_at)
        "emergency": ("breathing_difficulty", "emergency", 0, "open", NOW),
        "routine": ("pain_flare", "routine", 2, "open", NOW - timedelta(minutes=5)),
        "acknowledged": ("allergic_reaction", "urgent", 1, "acknowledged", NOW),
    }
    engine = create_engine_for(url, pool_size=1)
    async with engine.begin() as conn:
        await conn.execute(_procedures.insert().values(block_row(ids, NOW)))
        for name, (rule, severity, rank, status, created) in alerts.items():
            ids[name] = uuid.uuid4()
            acknowledged = status == "acknowledged"
            await conn.execute(
                _alerts.insert().values(
                    id=ids[name],
                    clinic_id=ids["clinic"],
                    patient_id=ids["patient"],
                    procedure_id=ids["procedure"],
                    report_id=None,
                    rule_id=rule,
                    rule_version=1,
                    severity=severity,
                    severity_rank=rank,
                    title=rule,
                    explanation=["seeded"],
                    status=status,
                    created_at=created,
                    last_triggered_at=created,
                    occurrences=1,
                    acknowledged_at=created if acknowledged else None,
                    acknowledged_by=ids["staff"] if acknowledged else None,
                    acknowledgement_note=None,
                    resolved_at=None,
                    resolved_by=None,
                    resolution_note=None,
                )
            )
    await engine.dispose()
    return ids


async def _escalation_state(
    url: str, ids: dict[str, uuid.UUID]
) -> tuple[tuple[int, int], dict[uuid.UUID, tuple[datetime, datetime | None, datetime | None]]]:
    clinics = sa.table(
        "clinics",
        sa.column("id", sa.Uuid()),
        sa.column("escalate_emergency_minutes", sa.Integer()),
        sa.column("escalate_urgent_minutes", sa.Integer()),
    )
    alerts = sa.table(
        "alerts",
        sa.column("id", sa.Uuid()),
        sa.column("created_at", UTCDateTime()),
        sa.column("escalate_at", UTCDateTime()),
        sa.column("escalated_at", UTCDateTime()),
    )
    engine = create_engine_for(url, pool_size=1)
    async with engine.connect() as conn:
        delays = (
            await conn.execute(
                sa.select(
                    clinics.c.escalate_emergency_minutes, clinics.c.escalate_urgent_minutes
                ).where(clinics.c.id == ids["clinic"])
            )
        ).one()
        rows = await conn.execute(  # a database of its own: only the seeded alerts
            sa.select(alerts.c.id, alerts.c.created_at, alerts.c.escalate_at, alerts.c.escalated_at)
        )
        state = {row[0]: (row[1], row[2], row[3]) for row in rows}
    await engine.dispose()
    return (delays[0], delays[1]), state


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
    backend: str, empty_database_factory: DatabaseFactory
) -> None:
    url = empty_database_factory(backend)
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
        token = await mint(app.state.services.db, "admin", ids["staff"], ids["clinic"], NOW)
        staff = {"Authorization": f"Bearer {token}"}
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


def test_upgrade_gives_open_alerts_their_escalation_deadline(
    backend: str, empty_database_factory: DatabaseFactory
) -> None:
    url = empty_database_factory(backend)
    asyncio.run(upgrade(url, BEFORE_ESCALATION))
    ids = asyncio.run(_seed_before_escalation(url))

    asyncio.run(upgrade(url))

    delays, alerts = asyncio.run(_escalation_state(url, ids))
    assert delays == (15, 120)
    created, escalate_at, escalated_at = alerts[ids["emergency"]]
    assert created == NOW and escalate_at == NOW + timedelta(minutes=15)
    assert escalate_at.utcoffset() == timedelta(0) and escalated_at is None
    assert alerts[ids["routine"]][1:] == (None, None)
    assert alerts[ids["acknowledged"]][1:] == (None, None)
    assert asyncio.run(_schema_diff(url)) == []


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


BEFORE_IDENTITY = "20261121_0006"
_refresh_tokens = sa.table(
    "refresh_tokens",
    *(sa.column(name, sa.Uuid()) for name in ("id", "patient_id", "family_id")),
    sa.column("token_digest", sa.String()),
    *(sa.column(name, UTCDateTime()) for name in ("created_at", "expires_at", "used_at")),
    sa.column("revoked_at", UTCDateTime()),
)


def test_upgrade_turns_refresh_families_into_devices_and_the_app_keeps_working(
    backend: str, empty_database_factory: DatabaseFactory
) -> None:
    """A phone enrolled before the upgrade refreshes as before; a family already revoked
    becomes a revoked device; staff stay active."""
    url = empty_database_factory(backend)
    asyncio.run(upgrade(url, BEFORE_IDENTITY))
    ids = asyncio.run(_seed_first_revision(url))
    live, dead = uuid.uuid4(), uuid.uuid4()
    raw = "a-refresh-token-from-before-the-upgrade"

    async def seed_tokens() -> None:
        engine = create_engine_for(url, pool_size=1)
        rows = [  # (family, digest, used_at, revoked_at)
            (live, digest("rotated-away"), NOW, None),
            (live, digest(raw), None, None),
            (dead, digest("stolen"), NOW, NOW),
        ]
        async with engine.begin() as conn:
            for family, token_digest, used_at, revoked_at in rows:
                await conn.execute(
                    _refresh_tokens.insert().values(
                        id=uuid.uuid4(),
                        patient_id=ids["patient"],
                        family_id=family,
                        token_digest=token_digest,
                        created_at=NOW,
                        expires_at=NOW + timedelta(days=90),
                        used_at=used_at,
                        revoked_at=revoked_at,
                    )
                )
        await engine.dispose()

    asyncio.run(seed_tokens())
    asyncio.run(upgrade(url))
    assert asyncio.run(_schema_diff(url)) == []

    async def use_it() -> None:
        app = create_app(Settings(database_url=url, secret_key=TEST_SECRET), FixedClock(NOW))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
        ):
            token = await mint(app.state.services.db, "admin", ids["staff"], ids["clinic"], NOW)
            staff = {"Authorization": f"Bearer {token}"}
            devices = await c.get(f"/v1/patients/{ids['patient']}/devices", headers=staff)
            assert devices.status_code == 200, devices.text
            state = {d["id"]: d["revoked_at"] is None for d in devices.json()}
            assert state == {str(live): True, str(dead): False}
            refreshed = await c.post("/v1/auth/refresh", json={"refresh_token": raw})
            assert refreshed.status_code == 200, refreshed.text
            app_token = {"Authorization": f"Bearer {refreshed.json()['access_token']}"}
            me = await c.get("/v1/me", headers=app_token)
            assert me.status_code == 200 and me.json()["patient_id"] == str(ids["patient"])
            team = (await c.get("/v1/staff", headers=staff)).json()
            assert [s["active"] for s in team] == [True]

    asyncio.run(use_it())


BEFORE_RULE_SETS = "20261201_0007"
_reports = sa.table(
    "reports",
    *(sa.column(n, sa.Uuid()) for n in ("id", "clinic_id", "patient_id", "procedure_id")),
    sa.column("client_report_id", sa.Uuid()),
    sa.column("request_digest", sa.String()),
    *(sa.column(n, UTCDateTime()) for n in ("recorded_at", "received_at", "relief_ended_at")),
    *(sa.column(n, sa.Integer()) for n in ("pain_score", "relief_percent")),
    sa.column("temperature_value", sa.Float()),
    sa.column("temperature_unit", sa.String()),
    sa.column("temperature_c", sa.Float()),
    sa.column("side_effects", _json),
    sa.column("notes", sa.Text()),
    sa.column("entered_by_staff_id", sa.Uuid()),
    sa.column("response", _json),
)


def _digest_before_glucose(procedure_id: uuid.UUID, body: dict[str, object]) -> str:
    """reports.service.request_digest as it was before blood_glucose existed."""
    canonical = ReportIn.model_validate(body).model_dump(mode="json", exclude={"blood_glucose"})
    canonical["side_effects"] = sorted(canonical["side_effects"], key=lambda e: e["kind"])
    canonical["procedure_id"] = str(procedure_id)
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def test_upgrade_puts_existing_clinics_reports_and_alerts_on_rule_set_1(
    backend: str, empty_database_factory: DatabaseFactory
) -> None:
    """Nothing a clinic already has changes its rules: the clinic stays on 1 and so is judged
    its next report; a report uploaded before the upgrade and retried after is still a replay."""
    url = empty_database_factory(backend)
    asyncio.run(upgrade(url, BEFORE_RULE_SETS))
    ids = asyncio.run(_seed_before_escalation(url))
    old_body = report_body(recorded_at="2026-11-21T12:00:00Z", temperature=None)
    ids["report"] = uuid.uuid4()
    stored = {"report": {"id": str(ids["report"])}, "alerts": [], "guidance": {"level": "none"}}

    async def seed_report() -> None:
        engine = create_engine_for(url, pool_size=1)
        async with engine.begin() as conn:
            await conn.execute(
                _reports.insert().values(
                    id=ids["report"],
                    clinic_id=ids["clinic"],
                    patient_id=ids["patient"],
                    procedure_id=ids["procedure"],
                    client_report_id=uuid.UUID(old_body["client_report_id"]),
                    request_digest=_digest_before_glucose(ids["procedure"], old_body),
                    recorded_at=NOW,
                    received_at=NOW,
                    relief_ended_at=None,
                    pain_score=4,
                    relief_percent=40,
                    temperature_value=None,
                    temperature_unit=None,
                    temperature_c=None,
                    side_effects=old_body["side_effects"],
                    notes=None,
                    entered_by_staff_id=None,
                    response=stored,
                )
            )
        await engine.dispose()

    asyncio.run(seed_report())
    asyncio.run(upgrade(url))
    assert asyncio.run(_schema_diff(url)) == []

    async def use_it() -> None:
        app = create_app(Settings(database_url=url, secret_key=TEST_SECRET), FixedClock(NOW))
        token = await mint(app.state.services.db, "admin", ids["staff"], ids["clinic"], NOW)
        staff = {"Authorization": f"Bearer {token}"}
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
        ):
            clinic = (await c.get("/v1/clinic", headers=staff)).json()
            assert clinic["rule_set_version"] == 1
            alert = (await c.get(f"/v1/alerts/{ids['emergency']}", headers=staff)).json()
            assert alert["rule_set_version"] == 1
            reports = f"/v1/procedures/{ids['procedure']}/reports"
            old = (await c.get(reports, headers=staff)).json()["items"]
            assert [(r["rule_set_version"], r["blood_glucose"]) for r in old] == [(1, None)]
            replay = await c.post(reports, json=old_body, headers=staff)
            assert replay.status_code == 200 and replay.json() == stored
            later = report_body(recorded_at="2026-11-21T12:01:00Z")
            new = await c.post(reports, json=later, headers=staff)
            assert new.status_code == 201 and new.json()["report"]["rule_set_version"] == 1

    asyncio.run(use_it())


BEFORE_FAILING_SINCE = "20261201_0008"
_outbox = sa.table(
    "outbox_events",
    sa.column("id", sa.Uuid()),
    sa.column("clinic_id", sa.Uuid()),
    sa.column("type", sa.String()),
    sa.column("created_at", UTCDateTime()),
    sa.column("data", _json),
    sa.column("dispatched_at", UTCDateTime()),
)
_endpoints = sa.table(
    "webhook_endpoints",
    *(sa.column(n, sa.Uuid()) for n in ("id", "clinic_id", "created_by")),
    *(sa.column(n, sa.String()) for n in ("url", "secret", "description", "disabled_reason")),
    sa.column("events", _json),
    sa.column("enabled", sa.Boolean()),
    *(sa.column(n, UTCDateTime()) for n in ("disabled_at", "created_at")),
)
_deliveries = sa.table(
    "webhook_deliveries",
    *(sa.column(n, sa.Uuid()) for n in ("id", "clinic_id", "endpoint_id", "event_id")),
    *(sa.column(n, sa.String()) for n in ("event_type", "status", "last_error")),
    *(sa.column(n, UTCDateTime()) for n in ("created_at", "next_attempt_at", "give_up_at")),
    *(sa.column(n, UTCDateTime()) for n in ("last_attempt_at", "delivered_at")),
    sa.column("lease_token", sa.Uuid()),
    *(sa.column(n, sa.Integer()) for n in ("attempt_count", "last_status_code")),
)


def test_upgrade_keeps_webhook_endpoints_and_their_pending_deliveries(
    backend: str, empty_database_factory: DatabaseFactory
) -> None:
    """An endpoint registered before endpoints kept a failing stretch has none on record, and
    the delivery it was owed goes out through the fair claim after the upgrade."""
    url = empty_database_factory(backend)
    asyncio.run(upgrade(url, BEFORE_FAILING_SINCE))
    ids = asyncio.run(_seed_first_revision(url))
    receiver = Receiver().start()
    ids |= {"hook": uuid.uuid4(), "event": uuid.uuid4(), "delivery": uuid.uuid4()}

    async def seed_webhook() -> None:
        engine = create_engine_for(url, pool_size=1)
        async with engine.begin() as conn:
            await conn.execute(
                _endpoints.insert().values(
                    id=ids["hook"],
                    clinic_id=ids["clinic"],
                    created_by=ids["staff"],
                    url=receiver.url,
                    secret=new_secret(),
                    description=None,
                    disabled_reason=None,
                    events=["alert.created"],
                    enabled=True,
                    disabled_at=None,
                    created_at=NOW,
                )
            )
            await conn.execute(
                _outbox.insert().values(
                    id=ids["event"],
                    clinic_id=ids["clinic"],
                    type="alert.created",
                    created_at=NOW,
                    data={"links": {}},
                    dispatched_at=NOW,
                )
            )
            await conn.execute(
                _deliveries.insert().values(
                    id=ids["delivery"],
                    clinic_id=ids["clinic"],
                    endpoint_id=ids["hook"],
                    event_id=ids["event"],
                    event_type="alert.created",
                    status="pending",
                    last_error=None,
                    created_at=NOW,
                    next_attempt_at=NOW,
                    give_up_at=NOW + timedelta(hours=24),
                    last_attempt_at=None,
                    delivered_at=None,
                    lease_token=None,
                    attempt_count=0,
                    last_status_code=None,
                )
            )
        await engine.dispose()

    async def use_it() -> None:
        settings = Settings(database_url=url, secret_key=TEST_SECRET, allow_private_webhooks=True)
        app = create_app(settings, FixedClock(NOW))
        token = await mint(app.state.services.db, "admin", ids["staff"], ids["clinic"], NOW)
        staff = {"Authorization": f"Bearer {token}"}
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c,
        ):
            hook = (await c.get(f"/v1/webhooks/{ids['hook']}", headers=staff)).json()
            assert (hook["enabled"], hook["failing_since"]) == (True, None)
            worker = Worker(app.state.services)
            try:
                await worker.run_until_idle()
            finally:
                await worker.aclose()
            assert receiver.ids() == [str(ids["event"])]
            hook = (await c.get(f"/v1/webhooks/{ids['hook']}", headers=staff)).json()
            assert (hook["enabled"], hook["failing_since"]) == (True, None)

    try:
        asyncio.run(seed_webhook())
        asyncio.run(upgrade(url))
        assert asyncio.run(_schema_diff(url)) == []
        asyncio.run(use_it())
    finally:
        receiver.stop()
