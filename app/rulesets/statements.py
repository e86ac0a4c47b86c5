"""The dry run's reads: Core selects of only the columns the rules read, no ORM entities (a
clinic's whole history passes through here; entities cost several times more per row)."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select

from app.patients.models import Patient
from app.procedures.models import Procedure
from app.reports.models import Report
from app.reports.statements import FACT_COLUMNS

# app/reports/judging.py facts_of's arguments, in its order. The same columns end
# app/reports/statements.py JUDGED_COLUMNS (tests/test_dry_run.py fails if the two drift apart).


@dataclass(frozen=True, slots=True)
class StoredBlock:
    """A block as judging.block_facts reads it (the live path's ProcedureRef), with what the
    changed reports name."""

    id: uuid.UUID
    patient_id: uuid.UUID
    sequence_number: int
    performed_at: datetime
    baseline_pain: int
    baseline_symptoms: list[str]
    side: str
    steroid: object  # the drug and dose, or None (block_facts reads it)
    timezone: str  # the patient's (IANA name), as the live path's block facts carry it


_BLOCK_COLUMNS = (
    Procedure.id,
    Procedure.patient_id,
    Procedure.sequence_number,
    Procedure.performed_at,
    Procedure.baseline_pain,
    Procedure.baseline_symptoms,
    Procedure.side,
    Procedure.steroid,
    Patient.timezone,
)


@dataclass(frozen=True, slots=True)
class Scope:
    clinic_id: uuid.UUID
    since: datetime | None
    until: datetime | None
    patient_id: uuid.UUID | None


def patient_in_clinic(clinic_id: uuid.UUID, patient_id: uuid.UUID | None) -> Select[Any]:
    return select(Patient.id).where(Patient.id == patient_id, Patient.clinic_id == clinic_id)


def _touched_blocks(scope: Scope) -> Select[Any]:
    """The blocks with a report in the window: only they are replayed."""
    where: list[ColumnElement[bool]] = [Report.clinic_id == scope.clinic_id]
    if scope.since is not None:
        where.append(Report.recorded_at >= scope.since)
    if scope.until is not None:
        where.append(Report.recorded_at < scope.until)
    if scope.patient_id is not None:
        where.append(Report.patient_id == scope.patient_id)
    return select(Report.procedure_id).where(*where).distinct()


def blocks(scope: Scope) -> Select[Any]:
    return (
        select(*_BLOCK_COLUMNS)
        .join(Patient, Patient.id == Procedure.patient_id)
        .where(Procedure.clinic_id == scope.clinic_id, Procedure.id.in_(_touched_blocks(scope)))
    )


def _history(scope: Scope) -> list[ColumnElement[bool]]:
    """Each touched block's reports from its first on (the one before `since` is a previous
    report), up to `until`."""
    where = [Report.clinic_id == scope.clinic_id, Report.procedure_id.in_(_touched_blocks(scope))]
    if scope.until is not None:
        where.append(Report.recorded_at < scope.until)
    return where


def history(scope: Scope) -> Select[Any]:
    """Block by block, each in the order the live path judges: (recorded_at, id)."""
    return (
        select(Report.procedure_id, Report.id, *FACT_COLUMNS)
        .where(*_history(scope))
        .order_by(Report.procedure_id, Report.recorded_at, Report.id)
    )


def history_size(scope: Scope) -> Select[Any]:
    """How many rows `history` streams (for a progress bar)."""
    return select(func.count()).select_from(Report).where(*_history(scope))
