"""The audit rows' insert statements, written as app/core/prebuilt.py says: one runs on every
API request."""

from functools import cache
from typing import Any, cast

from sqlalchemy import BindParameter, Insert, Table, TextClause, Uuid, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY

from app.audit.models import AuditEvent, AuditEventPatient
from app.core.models import UTCDateTime
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
def patients_from_arrays() -> TextClause:
    """PostgreSQL: a batch's patient rows in one statement whatever their number, from three
    arrays. Through insertmanyvalues each batch size was another SQL text, so another
    statement for PostgreSQL to parse and plan: a worklist page names up to 50 patients."""
    sql = (
        "INSERT INTO audit_event_patients (event_id, patient_id, at) "
        "SELECT * FROM unnest(:event_ids, :patient_ids, :ats)"
    )
    return text(sql).bindparams(
        bindparam("event_ids", type_=ARRAY(Uuid())),
        bindparam("patient_ids", type_=ARRAY(Uuid())),
        bindparam("ats", type_=ARRAY(UTCDateTime(timezone=True))),
    )


# The prefix of an event's parameters in another table's statement (event_ctes).
EVENT_PREFIX = "event_"


@cache
def event_ctes(only_if: str = "") -> tuple[str, tuple[BindParameter[Any], ...]]:
    """PostgreSQL: an event and its one patient as two CTEs, `audit_event` and
    `audit_event_patient`, to join a change's own statement, which commits with it in the
    same round trip (reports/statements.py); with `only_if` (SQL), written only when that
    holds. Parameters are the event's columns and `patient_id`, each prefixed with
    EVENT_PREFIX so they never meet the change's own."""
    insert, parameters = insert_every_column(_EVENTS, EVENT_PREFIX, only_if)
    patient = f"{EVENT_PREFIX}patient_id"
    # Only our own table and column names are interpolated; every value is a bound parameter.
    sql = (
        f"audit_event AS ({insert} RETURNING id, at), "  # noqa: S608
        "audit_event_patient AS (INSERT INTO audit_event_patients (event_id, patient_id, at) "
        f"SELECT audit_event.id, :{patient}, audit_event.at FROM audit_event)"
    )
    return sql, (*parameters, bindparam(patient, type_=Uuid()))


@cache
def event_with_its_patient() -> TextClause:
    """PostgreSQL: an event and its one patient in a single round trip. Text with typed
    parameters (app/core/prebuilt.py), so it is compiled once."""
    ctes, parameters = event_ctes()
    return text(f"WITH {ctes} SELECT 1").bindparams(*parameters)
