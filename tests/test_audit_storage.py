"""The audit tables are append-only in the database itself: the application's own database
user cannot change an event or delete one inside the retention period; the worker deletes
only what has passed it."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable

from app.audit.models import AuditEvent, AuditEventPatient
from app.audit.retention import purge_expired_audit_events
from tests.helpers import Api

pytestmark = pytest.mark.anyio
SIX_YEARS = timedelta(days=2192)


async def _event(api: Api, at: datetime) -> uuid.UUID:
    event_id, patient_id = uuid.uuid4(), uuid.uuid4()
    async with api.db.write() as session:
        await session.execute(
            insert(AuditEvent).values(
                id=event_id, at=at, actor_type="anonymous", action="test.event", status=200
            )
        )
        await session.execute(
            insert(AuditEventPatient).values(event_id=event_id, patient_id=patient_id, at=at)
        )
    return event_id


async def _refused(api: Api, statement: Executable) -> bool:
    try:
        async with api.db.write() as session:
            await session.execute(statement)
    except DBAPIError:
        return True
    return False


async def _count(api: Api, event_id: uuid.UUID) -> tuple[int, int]:
    async with api.db.read() as session:
        events = await session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.id == event_id)
        )
        links = await session.scalar(
            select(func.count())
            .select_from(AuditEventPatient)
            .where(AuditEventPatient.event_id == event_id)
        )
    return int(events or 0), int(links or 0)


async def test_events_cannot_be_changed_or_deleted_inside_retention(api: Api) -> None:
    young = await _event(api, datetime.now(UTC) - timedelta(days=30))
    assert await _refused(api, update(AuditEvent).where(AuditEvent.id == young).values(status=500))
    assert await _refused(
        api, update(AuditEventPatient).where(AuditEventPatient.event_id == young).values(at=None)
    )
    assert await _refused(api, delete(AuditEventPatient).where(AuditEventPatient.event_id == young))
    assert await _refused(api, delete(AuditEvent).where(AuditEvent.id == young))
    assert await _count(api, young) == (1, 1)


@pytest.mark.postgres_only
async def test_truncate_is_refused(api: Api) -> None:
    young = await _event(api, datetime.now(UTC))
    for table in ("audit_event_patients", "audit_events"):
        assert await _refused(api, text(f"TRUNCATE {table} CASCADE"))
    assert await _count(api, young) == (1, 1)


async def test_the_worker_deletes_only_events_past_retention(api: Api) -> None:
    now = datetime.now(UTC)
    old = await _event(api, now - SIX_YEARS - timedelta(days=2))
    young = await _event(api, now - SIX_YEARS + timedelta(days=2))
    services = api.app.state.services
    assert await purge_expired_audit_events(services, now) >= 1
    assert await _count(api, old) == (0, 0)
    assert await _count(api, young) == (1, 1)
    # A clock ahead of the database's cannot talk it into deleting a young event.
    with pytest.raises(DBAPIError):
        await purge_expired_audit_events(services, now + timedelta(days=30))
    assert await _count(api, young) == (1, 1)


async def test_one_bad_event_fails_only_its_own_request(api: Api) -> None:
    """Reads share a group commit; a row the database refuses must not take the others'
    events (and so their answers) down with it."""
    import asyncio

    from app.audit.writer import AuditWriter

    def rows(status: int | None) -> tuple[dict[str, object], list[dict[str, object]]]:
        event_id = uuid.uuid4()
        values = {
            "id": event_id,
            "at": datetime.now(UTC),
            "actor_type": "anonymous",
            "action": "test.batch",
            "status": status,
        }
        return values, []

    writer = AuditWriter(api.db)
    good, bad, also_good = rows(200), rows(None), rows(200)
    results = await asyncio.gather(
        writer.write(good), writer.write(bad), writer.write(also_good), return_exceptions=True
    )
    await writer.aclose()
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], DBAPIError)
    async with api.db.read() as session:
        stored = set(
            await session.scalars(
                select(AuditEvent.id).where(
                    AuditEvent.id.in_([good[0]["id"], bad[0]["id"], also_good[0]["id"]])
                )
            )
        )
    assert stored == {good[0]["id"], also_good[0]["id"]}


async def test_a_method_the_path_does_not_have_writes_no_event(api: Api) -> None:
    """405s read nothing; an 11-letter method would not even fit the column."""
    request_id = uuid.uuid4().hex
    response = await api.client.request(
        "UNSUBSCRIBE",
        "/v1/patients",
        headers={**api.world.a.clinician.headers, "X-Request-ID": request_id},
    )
    assert response.status_code == 405
    async with api.db.read() as session:
        found = await session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.request_id == request_id)
        )
    assert found == 0
