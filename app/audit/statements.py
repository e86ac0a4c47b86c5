"""The audit rows' insert statements, built once: one runs on every API request."""

from functools import cache
from typing import Any, cast

from sqlalchemy import Insert, Table, TextClause, Uuid, bindparam, text

from app.audit.models import AuditEvent, AuditEventPatient

_EVENTS = cast(Table, AuditEvent.__table__)
_PATIENTS = cast(Table, AuditEventPatient.__table__)


@cache
def event_insert() -> Insert:
    # Core, not the ORM's bulk path: many rows go as one statement (insertmanyvalues).
    return _EVENTS.insert()


@cache
def patients_insert() -> Insert:
    return _PATIENTS.insert()


@cache
def event_with_its_patient() -> TextClause:
    """PostgreSQL: an event and its one patient in a single round trip. Text with typed
    parameters, so it is compiled once (as claiming_insert in reports/service.py)."""
    names = [c.name for c in _EVENTS.columns]
    columns, values = ", ".join(names), ", ".join(f":{n}" for n in names)
    # Only our own column names are interpolated; every value is a bound parameter.
    sql = (
        f"WITH e AS (INSERT INTO audit_events ({columns}) VALUES ({values}) RETURNING id, at) "  # noqa: S608
        "INSERT INTO audit_event_patients (event_id, patient_id, at) "
        "SELECT e.id, :patient_id, e.at FROM e"
    )
    params: list[Any] = [bindparam(c.name, type_=c.type) for c in _EVENTS.columns]
    return text(sql).bindparams(*params, bindparam("patient_id", type_=Uuid()))
