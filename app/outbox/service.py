"""Events for the clinic's systems, added to the session of the change that causes them, so
both commit together or neither does.

Payloads are thin: ids, rule, severity, times and API links. Never a name, a note or any other
free text; a receiver fetches details with its own credentials. Each domain builds its own
event's payload (alerts/events.py, checkins/events.py): the outbox knows no domain's rows."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import OUTBOX_WRITTEN
from app.core.types import rfc3339
from app.outbox.models import OutboxEvent
from app.outbox.schemas import EVENT_TYPES


def event_time(moment: datetime | None) -> str | None:
    """A time as every payload gives it (RFC 3339, UTC, Z), or None."""
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
        id=uuid.uuid4(),
        clinic_id=clinic_id,
        type=event_type,
        created_at=now,
        data=data,
        dispatched_at=None,
    )
    session.add(event)
    session.info[OUTBOX_WRITTEN] = True
    return event
