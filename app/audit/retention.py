"""Deleting audit events past the retention period (AFTERCARE_AUDIT_RETENTION_DAYS, at least
six years). The database's triggers refuse any younger deletion, whoever asks."""

import time
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from app.audit.models import AuditEvent, AuditEventPatient
from app.core.deps import Services

# A busy clinic writes tens of thousands of events a day: each run deletes in batches, oldest
# first, until it catches up or its time is spent (then the next run goes on).
BATCH = 1000
TIME_BUDGET_SECONDS = 30.0


async def purge_expired_audit_events(services: Services, now: datetime) -> int:
    cutoff = now - timedelta(days=services.settings.audit_retention_days)
    deadline = time.monotonic() + TIME_BUDGET_SECONDS
    deleted = 0
    while time.monotonic() < deadline:
        batch = await _purge_batch(services, cutoff)
        deleted += batch
        if batch < BATCH:
            break
    return deleted


async def _purge_batch(services: Services, cutoff: datetime) -> int:
    async with services.db.write() as session:
        expired = list(
            await session.scalars(
                select(AuditEvent.id)
                .where(AuditEvent.at < cutoff)
                .order_by(AuditEvent.at)
                .limit(BATCH)
            )
        )
        if expired:
            await session.execute(
                delete(AuditEventPatient).where(AuditEventPatient.event_id.in_(expired))
            )
            await session.execute(delete(AuditEvent).where(AuditEvent.id.in_(expired)))
    return len(expired)
