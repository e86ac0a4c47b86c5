"""The outbox event announcing a missed check-in. Built here, not in the outbox: the outbox is
a lower layer that stores whatever event it is given and knows no domain's rows."""

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.checkins.models import Checkin
from app.outbox.models import OutboxEvent
from app.outbox.service import add_event, event_time


def add_checkin_missed_event(
    session: AsyncSession,
    clinic_id: uuid.UUID,
    patient_id: uuid.UUID,
    window: Checkin,
    now: datetime,
) -> OutboxEvent:
    data = {
        "checkin_id": str(window.id),
        "patient_id": str(patient_id),
        "procedure_id": str(window.procedure_id),
        "due_at": event_time(window.due_at),
        "closes_at": event_time(window.closes_at),
        "status": window.status,
        # A check-in has no FHIR resource of its own; the block it belongs to does.
        "fhir_reference": f"Procedure/{window.procedure_id}",
        "links": {
            "patient": f"/v1/patients/{patient_id}",
            "procedure": f"/v1/procedures/{window.procedure_id}",
        },
    }
    return add_event(session, clinic_id, "checkin.missed", data, now)
