import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Select, Uuid, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.record import stage
from app.checkins.models import Checkin
from app.checkins.schemas import CheckinOut
from app.checkins.service import checkins_by_procedure, schedule_checkins
from app.core.audit import note_patients, note_resource
from app.core.deps import Services
from app.core.domain_errors import InvalidField, NotFound
from app.core.pagination import cut_page, decode_number_cursor
from app.core.security import Principal
from app.core.types import Page
from app.patients.models import Patient
from app.patients.service import load_patient
from app.procedures.models import Procedure
from app.procedures.schemas import ProcedureCreate, ProcedureOut
from app.staff.models import Clinic

FUTURE_TOLERANCE = timedelta(minutes=5)  # phone clocks drift; more than this is a mistake


@dataclass(frozen=True, slots=True)
class ProcedureRef:
    """What judging a report needs of its block, its patient and its clinic: a plain row,
    cheaper than an ORM entity on the hot path of every report."""

    id: uuid.UUID
    clinic_id: uuid.UUID
    patient_id: uuid.UUID
    performed_at: datetime
    baseline_pain: int
    baseline_symptoms: list[str]
    side: str
    steroid: dict[str, Any] | None  # the drug and dose, or None (models.included_steroid)
    rule_set_version: int  # the clinic's, as this statement read it
    timezone: str  # the patient's (IANA name): the block's date in guidance is theirs


# ProcedureRef's fields in order. The clinic and the patient ride along in the same statement:
# one round trip per report.
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
    their own. Ids are bound parameters (see `_scope`), so statements are built once."""
    query = query.where(
        Procedure.id == bindparam("procedure_id", type_=Uuid()),
        Procedure.clinic_id == bindparam("clinic_id", type_=Uuid()),
    )
    if for_patient:
        query = query.where(Procedure.patient_id == bindparam("patient_id", type_=Uuid()))
    return query


def _scope(caller: Principal, procedure_id: uuid.UUID) -> dict[str, uuid.UUID]:
    params = {"procedure_id": procedure_id, "clinic_id": caller.clinic_id}
    if caller.patient_id is not None:
        params["patient_id"] = caller.patient_id
    return params


@cache
def _ref_statement(for_patient: bool, for_update: bool) -> Select[Any]:
    query = _visible(_ref_select(), for_patient)
    # Only the block is locked: locking the clinic or the patient too would make their other
    # blocks' reports queue behind each other.
    return query.with_for_update(of=Procedure) if for_update else query


@cache
def _worker_ref_statement() -> Select[Any]:
    query = _ref_select().where(Procedure.id == bindparam("procedure_id", type_=Uuid()))
    return query.with_for_update(of=Procedure)


@cache
def _entity_statement(for_patient: bool) -> Select[Any]:
    return _visible(select(Procedure), for_patient)


async def load_procedure_ref(
    session: AsyncSession, caller: Principal, procedure_id: uuid.UUID, *, for_update: bool = False
) -> ProcedureRef:
    """With for_update (PostgreSQL; SQLite writers are already serialised) the reports of one
    block are judged one at a time, each against the ones stored before it."""
    statement = _ref_statement(caller.patient_id is not None, for_update)
    row = (await session.execute(statement, _scope(caller, procedure_id))).first()
    if row is None:
        raise NotFound("procedure")
    ref = ProcedureRef(*row)
    note_patients(ref.patient_id)
    return ref


async def lock_procedure_ref(session: AsyncSession, procedure_id: uuid.UUID) -> ProcedureRef:
    """The worker's: any clinic's block, locked as report submission locks it (the block row
    only), with its clinic's rule set version as of now."""
    row = (await session.execute(_worker_ref_statement(), {"procedure_id": procedure_id})).one()
    return ProcedureRef(*row)  # procedures are never deleted


async def load_procedure(
    session: AsyncSession, caller: Principal, procedure_id: uuid.UUID
) -> Procedure:
    statement = _entity_statement(caller.patient_id is not None)
    procedure: Procedure | None = await session.scalar(statement, _scope(caller, procedure_id))
    if procedure is None:
        raise NotFound("procedure")
    note_patients(procedure.patient_id)
    return procedure


def _out(procedure: Procedure, checkins: list[Checkin]) -> ProcedureOut:
    data = {c: getattr(procedure, c) for c in ProcedureOut.model_fields if c != "checkins"}
    return ProcedureOut.model_validate(
        {**data, "checkins": [CheckinOut.model_validate(c) for c in checkins]}
    )


async def create_procedure(
    services: Services, caller: Principal, patient_id: uuid.UUID, body: ProcedureCreate
) -> ProcedureOut:
    now = services.clock.now()
    if body.performed_at > now + FUTURE_TOLERANCE:
        raise InvalidField("performed_at", "a block cannot be recorded before it is performed")
    async with services.db.write() as session:
        # Locking the patient row serialises sequence numbers for that patient.
        await load_patient(session, caller, patient_id, for_update=True)
        last = await session.scalar(
            select(func.max(Procedure.sequence_number)).where(Procedure.patient_id == patient_id)
        )
        procedure = Procedure(
            id=uuid.uuid4(),
            clinic_id=caller.clinic_id,
            patient_id=patient_id,
            sequence_number=(last or 0) + 1,
            created_by=caller.subject_id,
            created_at=now,
            **body.model_dump(mode="json", exclude={"performed_at"}),
            performed_at=body.performed_at,
        )
        checkins = schedule_checkins(procedure.id, body.performed_at, now)
        session.add(procedure)
        await session.flush()
        session.add_all(checkins)
        note_resource(procedure.id)
        await stage(session, now)
    return _out(procedure, checkins)


async def get_procedure(
    services: Services, caller: Principal, procedure_id: uuid.UUID
) -> ProcedureOut:
    async with services.db.read() as session:
        procedure = await load_procedure(session, caller, procedure_id)
        checkins = await checkins_by_procedure(session, [procedure.id])
    return _out(procedure, checkins[procedure.id])


async def list_procedures(
    services: Services, caller: Principal, patient_id: uuid.UUID, *, limit: int, cursor: str | None
) -> Page[ProcedureOut]:
    query = select(Procedure).where(Procedure.patient_id == patient_id)
    if cursor:
        query = query.where(Procedure.sequence_number > decode_number_cursor(cursor))
    query = query.order_by(Procedure.sequence_number).limit(limit + 1)
    async with services.db.read() as session:
        await load_patient(session, caller, patient_id)
        rows = list(await session.scalars(query))
        rows, next_cursor = cut_page(rows, limit, lambda r: (r.sequence_number,))
        checkins = await checkins_by_procedure(session, [r.id for r in rows])
    return Page[ProcedureOut](
        items=[_out(r, checkins[r.id]) for r in rows],
        next_cursor=next_cursor,
    )
