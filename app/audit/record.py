"""Turning the request's AuditRecord into rows: staged in a change's own transaction (so the
change and its event commit together), or written by the middleware's group commit."""

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.actions import ACTIONS, UNKNOWN, Action
from app.audit.statements import (
    EVENT_PREFIX,
    event_insert,
    event_with_its_patient,
    patients_from_arrays,
    patients_insert,
)
from app.core.audit import AuditRecord, current_record
from app.core.db import AUDIT_STAGED

EventRows = tuple[dict[str, Any], list[dict[str, Any]]]


def route_action(scope: Mapping[str, Any]) -> tuple[Action, str | None, int]:
    """The matched operation's action, route template and success status."""
    route = scope.get("route")
    operation_id = getattr(route, "operation_id", None)
    action = ACTIONS.get(operation_id or "", UNKNOWN)
    return action, getattr(route, "path", None), getattr(route, "status_code", None) or 200


def _innermost_path_id(scope: Mapping[str, Any]) -> str | None:
    """The innermost id in the path names the record: /webhooks/{w}/deliveries/{d} -> d.
    Only a well-formed id is kept: a raw segment that failed validation may be an MRN."""
    params = list((scope.get("path_params") or {}).values())
    try:
        return str(uuid.UUID(str(params[-1]))) if params else None
    except ValueError:
        return None


def event_rows(
    record: AuditRecord, status: int, at: datetime, action: Action | None = None
) -> EventRows:
    """The event's row and its patients' rows; `action` instead of the operation's own."""
    own, route, _ = route_action(record.scope)
    action = action or own
    resource_id = record.resource_id or _innermost_path_id(record.scope)
    event_id = uuid.uuid4()
    values = {
        "id": event_id,
        "at": at,
        "clinic_id": record.clinic_id,
        "actor_type": record.actor_type,
        "actor_id": record.actor_id,
        "role": record.role,
        "action": action.name,
        "resource_type": action.resource_type,
        "resource_id": resource_id,
        "method": record.method,
        "route": route,
        "status": status,
        "request_id": record.request_id,
        "client_address": record.client_address,
        "user_agent": record.user_agent,
    }
    patients = [{"event_id": event_id, "patient_id": p, "at": at} for p in record.patient_ids]
    return values, patients


async def insert_events(session: AsyncSession, batch: list[EventRows]) -> None:
    if len(batch) == 1 and len(batch[0][1]) == 1 and session.bind.dialect.name == "postgresql":
        values, (patient,) = batch[0]
        await session.execute(event_with_its_patient(), _prefixed(values, patient["patient_id"]))
        return
    await session.execute(event_insert(), [values for values, _ in batch])
    patients = [row for _, rows in batch for row in rows]
    if patients and session.bind.dialect.name == "postgresql":
        columns = {
            f"{name}s": [row[name] for row in patients] for name in ("event_id", "patient_id", "at")
        }
        await session.execute(patients_from_arrays(), columns)
    elif patients:
        await session.execute(patients_insert(), patients)


async def stage(
    session: AsyncSession, at: datetime, *, status: int | None = None, action: Action | None = None
) -> None:
    """Adds this request's event to the change's transaction. Call it last, once the change
    is certain: the event says the request succeeded (the route's status, unless given) and
    what it did (the operation's action, unless the change was one with an action of its own,
    e.g. actions.CHANGE_RULE_SET). Once that transaction commits, db.write() marks the record
    written (AUDIT_STAGED). A request has one event: staged already in this transaction (with
    the change's own statement, `staged_with_change`), it adds nothing."""
    record = current_record()
    if record is None or session.info.get(AUDIT_STAGED) is record:
        return
    success = status or route_action(record.scope)[2]
    await insert_events(session, [event_rows(record, success, at, action)])
    session.info[AUDIT_STAGED] = record


def event_for_change(
    session: AsyncSession, at: datetime, status: int, resource_id: uuid.UUID
) -> dict[str, Any] | None:
    """PostgreSQL: this request's event, naming `resource_id`, as the parameters of
    audit/statements.py `event_ctes`, for a change that writes it in its own statement (one
    round trip fewer). None where it cannot ride along (no request, SQLite, or not exactly
    one patient): then `stage` writes it. Once that statement has written it, call
    `staged_with_change`. The record itself is left as it is: if the change fails, the
    middleware's event must not name a resource that was never stored."""
    record = current_record()
    if record is None or session.bind.dialect.name != "postgresql" or len(record.patient_ids) != 1:
        return None
    values, (patient,) = event_rows(record, status, at)
    return _prefixed({**values, "resource_id": str(resource_id)}, patient["patient_id"])


def staged_with_change(session: AsyncSession) -> None:
    """The event of `event_for_change` is written in this transaction: `stage` adds no other,
    and db.write() marks it written once the transaction commits."""
    session.info[AUDIT_STAGED] = current_record()


def _prefixed(values: dict[str, Any], patient_id: uuid.UUID) -> dict[str, Any]:
    """An event and its one patient as `event_ctes` names its parameters."""
    named = {EVENT_PREFIX + name: value for name, value in values.items()}
    return {**named, f"{EVENT_PREFIX}patient_id": patient_id}


async def insert_operator_event(
    session: AsyncSession,
    action: Action,
    resource_id: str,
    at: datetime,
    clinic_id: uuid.UUID | None = None,
    patients: Iterable[uuid.UUID] = (),
) -> None:
    """A security event done from the command line (key rotation, a clinic's first admin, a
    dry run), naming the patients whose data it showed, if any. It has no request: those
    columns stay empty (all bound, for PostgreSQL's one-round-trip event with one patient)."""
    event_id = uuid.uuid4()
    values: dict[str, Any] = dict.fromkeys(event_insert().table.columns.keys()) | {
        "id": event_id,
        "at": at,
        "clinic_id": clinic_id,
        "actor_type": "operator",
        "action": action.name,
        "resource_type": action.resource_type,
        "resource_id": resource_id,
        "status": 200,
    }
    shown = [{"event_id": event_id, "patient_id": p, "at": at} for p in dict.fromkeys(patients)]
    await insert_events(session, [(values, shown)])
