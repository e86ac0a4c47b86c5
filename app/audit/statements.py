"""The audit rows' insert statements, written as app/core/prebuilt.py says: one runs on every
API request."""

from functools import cache
from typing import cast

from sqlalchemy import Insert, Table, TextClause, Uuid, bindparam, text

from app.audit.models import AuditEvent, AuditEventPatient
from app.core.prebuilt import insert_every_column

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
    parameters (app/core/prebuilt.py), so it is compiled once."""
    insert, parameters = insert_every_column(_EVENTS)
    # Only our own table and column names are interpolated; every value is a bound parameter.
    sql = (
        f"WITH e AS ({insert} RETURNING id, at) "  # noqa: S608
        "INSERT INTO audit_event_patients (event_id, patient_id, at) "
        "SELECT e.id, :patient_id, e.at FROM e"
    )
    return text(sql).bindparams(*parameters, bindparam("patient_id", type_=Uuid()))
