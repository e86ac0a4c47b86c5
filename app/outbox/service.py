"""Events for the clinic's systems, added to the session of the change that causes them, so
both commit together or neither does.

Payloads are thin: ids, rule, severity, times and API links. Never a name, a note or any other
free text; a receiver fetches details with its own credentials."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.models import Alert
from app.checkins.models import Checkin
from app.core.db import OUTBOX_WRITTEN
from app.core.types import rfc3339
from app.outbox.models import OutboxEvent
from app.outbox.schemas import EVENT_TYPES, EventType


def _iso(moment: datetime | None) -> str | None:
    return rfc3339(moment) if moment is not None else None


def add_event(
    session: AsyncSession,
    clinic_id: uuid.UUID,
    event_type: str,
    data: dict[str, Any],
    now: datetime,
) -> OutboxEvent:
    assert event_type in EVENT_TYPES, event_type
    event = OutboxEvent(
        id=uuid.uuid4(), clinic_id=clinic_id, type=event_type, created_at=now, data=data,
        dispatched_at=None,
    )  # fmt: skip
    session.add(event)
    session.info[OUTBOX_WRITTEN] = True
    return event


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
        "created_at": _iso(alert.created_at),
        "last_triggered_at": _iso(alert.last_triggered_at),
        "acknowledged_at": _iso(alert.acknowledged_at),
        "resolved_at": _iso(alert.resolved_at),
        "escalated_at": _iso(alert.escalated_at),
        # An EHR fetches the alert as a FHIR Task from /fhir/r4 (app/fhir/tasks.py).
        "fhir_reference": f"Task/{alert.id}",
        "links": {
            "alert": f"/v1/alerts/{alert.id}",
            "patient": f"/v1/patients/{alert.patient_id}",
            "procedure": f"/v1/procedures/{alert.procedure_id}",
        },
    }
    return add_event(session, alert.clinic_id, event_type, data, now)


def add_checkin_missed_event(
    session: AsyncSession, clinic_id: uuid.UUID, patient_id: uuid.UUID, window: Checkin,
    now: datetime,
) -> OutboxEvent:  # fmt: skip
    data = {
        "checkin_id": str(window.id),
        "patient_id": str(patient_id),
        "procedure_id": str(window.procedure_id),
        "due_at": _iso(window.due_at),
        "closes_at": _iso(window.closes_at),
        "status": window.status,
        # A check-in has no FHIR resource of its own; the block it belongs to does.
        "fhir_reference": f"Procedure/{window.procedure_id}",
        "links": {
            "patient": f"/v1/patients/{patient_id}",
            "procedure": f"/v1/procedures/{window.procedure_id}",
        },
    }
    return add_event(session, clinic_id, "checkin.missed", data, now)
