"""A block's prebuilt statements, written as app/core/prebuilt.py says: every report POST
reads its block (with its clinic and patient) through one of them, and every request about a
block finds it through `visible`'s rule of who may see it."""

from functools import cache
from typing import Any

from sqlalchemy import Select, Uuid, bindparam, select

from app.core.models import id_in
from app.patients.models import Patient
from app.procedures.models import Procedure
from app.staff.models import Clinic

# ProcedureRef's fields in order (service.py). The clinic and the patient ride along in the
# same statement: one round trip per report.
_REF_COLUMNS = (
    Procedure.id,
    Procedure.clinic_id,
    Procedure.patient_id,
    Procedure.performed_at,
    Procedure.baseline_pain,
    Procedure.baseline_symptoms,
    Procedure.side,
    Procedure.steroid,
    Clinic.rule_set_version,
    Patient.timezone,
)


def _ref_select() -> Select[Any]:
    query = select(*_REF_COLUMNS).join(Clinic, Clinic.id == Procedure.clinic_id)
    return query.join(Patient, Patient.id == Procedure.patient_id)


def _visible(query: Select[Any], for_patient: bool) -> Select[Any]:
    """The one statement of who may see a block: the caller's clinic, and for a patient only
    their own. Ids are bound parameters (service.py's `_scope` fills them)."""
    query = query.where(
        Procedure.id == bindparam("procedure_id", type_=Uuid()),
        Procedure.clinic_id == bindparam("clinic_id", type_=Uuid()),
    )
    if for_patient:
        query = query.where(Procedure.patient_id == bindparam("patient_id", type_=Uuid()))
    return query


@cache
def ref_statement(for_patient: bool, for_update: bool) -> Select[Any]:
    """A report's block as a ProcedureRef row: every report POST (locked) and report read."""
    query = _visible(_ref_select(), for_patient)
    # Only the block is locked: locking the clinic or the patient too would make their other
    # blocks' reports queue behind each other.
    return query.with_for_update(of=Procedure, key_share=True) if for_update else query


@cache
def worker_ref_statement() -> Select[Any]:
    """What the clock raises (app/scheduled): any clinic's block, locked as a report locks it."""
    query = _ref_select().where(Procedure.id == bindparam("procedure_id", type_=Uuid()))
    return query.with_for_update(of=Procedure, key_share=True)


@cache
def entity_statement(for_patient: bool) -> Select[Any]:
    """The block as an entity, for the caller who may see it: GET a block, its outcomes."""
    return _visible(select(Procedure), for_patient)


@cache
def revisions_statement(dialect: str) -> Select[Any]:
    """Each block of some of the clinic's patients with its revision, in id order: what a
    cached view of those patients' data is keyed by (app/core/view_cache.py)."""
    return (
        select(Procedure.id, Procedure.revision)
        .where(
            Procedure.clinic_id == bindparam("clinic_id", type_=Uuid()),
            id_in(Procedure.patient_id, "patient_ids", dialect),
        )
        .order_by(Procedure.id)
    )


@cache
def patient_revisions_statement() -> Select[Any]:
    """A patient of the clinic (no row: not the clinic's) and each of their blocks with its
    revision (none: a row of nulls), with the clinic's rule set version, in one statement: a
    cached timeline's or outcomes' access check and key."""
    columns = (Patient.id, Procedure.id.label("block_id"), Procedure.revision)
    return (
        select(*columns, Clinic.rule_set_version)
        .join(Clinic, Clinic.id == Patient.clinic_id)
        .outerjoin(Procedure, Procedure.patient_id == Patient.id)
        .where(
            Patient.id == bindparam("patient_id", type_=Uuid()),
            Patient.clinic_id == bindparam("clinic_id", type_=Uuid()),
        )
        .order_by(Procedure.id)
    )


@cache
def block_view_statement(for_patient: bool) -> Select[Any]:
    """A block the caller may see, its patient and revision, and the clinic's rule set
    version, in one statement: a cached summary's or chart's access check and key."""
    query = select(Procedure.patient_id, Procedure.revision, Clinic.rule_set_version)
    return _visible(query.join(Clinic, Clinic.id == Procedure.clinic_id), for_patient)
