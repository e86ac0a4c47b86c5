"""The outbox event announcing a change to an alert. Built here, not in the outbox: the outbox
is a lower layer that stores whatever event it is given and knows no domain's rows."""

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.models import Alert
from app.outbox.models import OutboxEvent
from app.outbox.schemas import EventType
from app.outbox.service import add_event, event_time


def add_alert_event(
    session: AsyncSession, alert: Alert, event_type: EventType, now: datetime
) -> OutboxEvent:
    data = {
        "alert_id": str(alert.id),
        "patient_id": str(alert.patient_id),
        "procedure_id": str(alert.procedure_id),
        "report_id": str(alert.report_id) if alert.report_id else None,
        "rule_id": alert.rule_id,
        "rule_version": alert.rule_version,
        "rule_set_version": alert.rule_set_version,
        "severity": alert.severity,
        "status": alert.status,
        "occurrences": alert.occurrences,
        "created_at": event_time(alert.created_at),
        "last_triggered_at": event_time(alert.last_triggered_at),
        "acknowledged_at": event_time(alert.acknowledged_at),
        "resolved_at": event_time(alert.resolved_at),
        "escalated_at": event_time(alert.escalated_at),
        # An EHR fetches the alert as a FHIR Task from /fhir/r4 (app/fhir/tasks.py).
        "fhir_reference": f"Task/{alert.id}",
        "links": {
            "alert": f"/v1/alerts/{alert.id}",
            "patient": f"/v1/patients/{alert.patient_id}",
            "procedure": f"/v1/procedures/{alert.procedure_id}",
        },
    }
    return add_event(session, alert.clinic_id, event_type, data, now)
