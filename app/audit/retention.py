"""Deleting audit events past the retention period (AFTERCARE_AUDIT_RETENTION_DAYS, at least
six years). The database's triggers refuse any younger deletion, whoever asks."""

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from app.audit.models import AuditEvent, AuditEventPatient
from app.core.deps import Services


async def purge_expired_audit_events(services: Services, now: datetime, *, batch: int) -> int:
    cutoff = now - timedelta(days=services.settings.audit_retention_days)
    async with services.db.write() as session:
        expired = list(
            await session.scalars(select(AuditEvent.id).where(AuditEvent.at < cutoff).limit(batch))
        )
        if expired:
            await session.execute(
                delete(AuditEventPatient).where(AuditEventPatient.event_id.in_(expired))
            )
            await session.execute(delete(AuditEvent).where(AuditEvent.id.in_(expired)))
    return len(expired)
