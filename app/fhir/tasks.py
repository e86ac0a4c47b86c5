"""Task: mapping from the alerts table (docs/fhir.md, "Task"). An alert is work for a
clinician: open is requested, acknowledged is accepted, resolved is completed."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.models import Alert
from app.fhir.common import AFTERCARE_SYSTEM_BASE, instant, reference
from app.integrations.models import IntegrationClient
from app.staff.models import StaffUser

RULE_SYSTEM = f"{AFTERCARE_SYSTEM_BASE}/CodeSystem/red-flag-rule"
TASK_STATUS = {"open": "requested", "acknowledged": "accepted", "resolved": "completed"}
ALERT_STATUS = {fhir: ours for ours, fhir in TASK_STATUS.items()}
TASK_PRIORITY = {"emergency": "stat", "urgent": "urgent", "routine": "routine"}
ALERT_SEVERITY = {fhir: ours for ours, fhir in TASK_PRIORITY.items()}
RULE_ENGINE = {"type": "Device", "display": "Aftercare red-flag rules"}


def actor(display: str | None, *, client: bool) -> dict[str, str]:
    """Who acted: a staff user (Practitioner) or an integration client (Device). Display
    only: this server has no Practitioner or Device resources to point to."""
    return {"type": "Device" if client else "Practitioner", "display": display or "unknown"}


def _who(
    staff_id: uuid.UUID | None, client_id: uuid.UUID | None, names: dict[uuid.UUID, str]
) -> dict[str, str]:
    if client_id is not None:
        return actor(names.get(client_id), client=True)
    return actor(names.get(staff_id) if staff_id else None, client=False)


def actor_ids(alert: Alert) -> set[uuid.UUID]:
    """The staff users and clients whose names task_resource needs."""
    ids = (
        alert.acknowledged_by,
        alert.acknowledged_by_client_id,
        alert.resolved_by,
        alert.resolved_by_client_id,
    )
    return {i for i in ids if i is not None}


async def actor_names(
    session: AsyncSession, clinic_id: uuid.UUID, alerts: Sequence[Alert]
) -> dict[uuid.UUID, str]:
    """The display names task_resource needs for these alerts: the clinic's staff users and
    clients who acted on them, two queries whatever their number (the read and the search
    routes, and each batch of bulk export)."""
    ids = set().union(*(actor_ids(a) for a in alerts)) if alerts else set()
    if not ids:
        return {}
    names: dict[uuid.UUID, str] = {}
    for model in (StaffUser, IntegrationClient):
        rows = await session.execute(
            select(model.id, model.name).where(model.id.in_(ids), model.clinic_id == clinic_id)
        )
        names.update({row_id: name for row_id, name in rows.tuples()})
    return names


def _utc(moment: datetime) -> datetime:
    # Naive means UTC (SQLite), as instant() reads it; comparable with aware ones.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def task_resource(alert: Alert, names: dict[uuid.UUID, str]) -> dict[str, Any]:
    """`names`: display names of the staff users and clients in actor_ids(alert)."""
    moments = (
        alert.created_at,
        alert.last_triggered_at,
        alert.acknowledged_at,
        alert.escalated_at,
        alert.resolved_at,
    )
    # The latest as datetimes, not as text ("...:05Z" sorts after "...:05.5Z").
    last = instant(max(_utc(m) for m in moments if m is not None))
    # What the task is about: the report that raised it; a missed check-in has none, so
    # the block it was raised for.
    focus = (
        reference("QuestionnaireResponse", alert.report_id)
        if alert.report_id
        else reference("Procedure", alert.procedure_id)
    )
    resource: dict[str, Any] = {
        "resourceType": "Task",
        "id": str(alert.id),
        "meta": {"lastUpdated": last},
        "status": TASK_STATUS[alert.status],
        "intent": "order",
        "priority": TASK_PRIORITY[alert.severity],
        "code": {"text": "Review red-flag alert"},
        "description": alert.title,
        "focus": focus,
        "for": reference("Patient", alert.patient_id),
        "authoredOn": instant(alert.created_at),
        "lastModified": last,
        "requester": RULE_ENGINE,
        "reasonCode": {
            "coding": [
                {
                    "system": RULE_SYSTEM,
                    "version": str(alert.rule_set_version),
                    "code": alert.rule_id,
                }
            ],
            "text": alert.title,
        },
        "executionPeriod": {"start": instant(alert.created_at)},
    }
    if alert.escalated_at is not None:
        resource["businessStatus"] = {"text": "escalated"}
    notes = []
    if alert.acknowledged_at is not None:
        who = _who(alert.acknowledged_by, alert.acknowledged_by_client_id, names)
        text = "Acknowledged" + (
            f": {alert.acknowledgement_note}" if alert.acknowledgement_note else ""
        )
        notes.append({"authorReference": who, "time": instant(alert.acknowledged_at), "text": text})
    if alert.resolved_at is not None:
        who = _who(alert.resolved_by, alert.resolved_by_client_id, names)
        text = "Resolved" + (f": {alert.resolution_note}" if alert.resolution_note else "")
        notes.append({"authorReference": who, "time": instant(alert.resolved_at), "text": text})
        resource["owner"] = who
        resource["executionPeriod"]["end"] = instant(alert.resolved_at)
    elif alert.acknowledged_at is not None:
        resource["owner"] = notes[0]["authorReference"]
    if notes:
        resource["note"] = notes
    return resource
