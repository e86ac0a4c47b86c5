import uuid
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.record import stage
from app.checkins.models import Checkin
from app.checkins.schemas import CheckinOut
from app.checkins.service import checkins_by_procedure, schedule_checkins
from app.core.audit import note_patients, note_resource
from app.core.db import Database
from app.core.deps import Services
from app.core.domain_errors import InvalidField, NotFound
from app.core.pagination import cut_page, decode_number_cursor
from app.core.security import Principal
from app.core.types import Page
from app.core.view_cache import View
from app.patients.service import load_patient
from app.procedures.models import Procedure
from app.procedures.schemas import ProcedureCreate, ProcedureOut
from app.procedures.statements import (
    block_view_statement,
    entity_statement,
    patient_revisions_statement,
    ref_statement,
    revisions_statement,
    worker_ref_statement,
)

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


def _scope(caller: Principal, procedure_id: uuid.UUID) -> dict[str, uuid.UUID]:
    params = {"procedure_id": procedure_id, "clinic_id": caller.clinic_id}
    if caller.patient_id is not None:
        params["patient_id"] = caller.patient_id
    return params


async def load_procedure_ref(
    session: AsyncSession, caller: Principal, procedure_id: uuid.UUID, *, for_update: bool = False
) -> ProcedureRef:
    """With for_update (PostgreSQL; SQLite writers are already serialised) the reports of one
    block are judged one at a time, each against the ones stored before it."""
    statement = ref_statement(caller.patient_id is not None, for_update)
    row = (await session.execute(statement, _scope(caller, procedure_id))).first()
    if row is None:
        raise NotFound("procedure")
    ref = ProcedureRef(*row)
    note_patients(ref.patient_id)
    return ref


async def lock_procedure_ref(session: AsyncSession, procedure_id: uuid.UUID) -> ProcedureRef:
    """The worker's: any clinic's block, locked as report submission locks it (the block row
    only), with its clinic's rule set version as of now."""
    row = (await session.execute(worker_ref_statement(), {"procedure_id": procedure_id})).one()
    return ProcedureRef(*row)  # procedures are never deleted


async def load_procedure(
    session: AsyncSession, caller: Principal, procedure_id: uuid.UUID
) -> Procedure:
    statement = entity_statement(caller.patient_id is not None)
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


async def block_revisions(
    db: Database, clinic_id: uuid.UUID, patient_ids: Sequence[uuid.UUID]
) -> tuple[tuple[uuid.UUID, int], ...]:
    """The revision of every block of these patients of the clinic: read before the data a
    cached view shows (app/core/view_cache.py says why)."""
    params = {"clinic_id": clinic_id, "patient_ids": list(patient_ids)}
    rows = await db.lookup_rows(revisions_statement(db.dialect), params)
    return tuple((row.id, row.revision) for row in rows)


@dataclass(frozen=True)
class PatientVersion:
    """What a cached view of a patient's blocks is keyed by (app/core/view_cache.py)."""

    blocks: tuple[tuple[uuid.UUID, int], ...]  # each block's id and revision
    rule_set_version: int  # the clinic's


async def patient_version(db: Database, caller: Principal, patient_id: uuid.UUID) -> PatientVersion:
    """load_patient's check, the revision of each of the patient's blocks and the clinic's
    rule set version, in one statement outside a transaction: all a cached timeline page or
    outcomes view needs."""
    if caller.patient_id not in (None, patient_id):  # a patient sees only themself
        raise NotFound("patient")
    params = {"patient_id": patient_id, "clinic_id": caller.clinic_id}
    rows = await db.lookup_rows(patient_revisions_statement(), params)
    if not rows:
        raise NotFound("patient")
    note_patients(patient_id)
    blocks = tuple((row.block_id, row.revision) for row in rows if row.block_id is not None)
    return PatientVersion(blocks, rows[0].rule_set_version)


async def cached_patient_view(
    services: Services,
    caller: Principal,
    patient_id: uuid.UUID,
    view: tuple[Hashable, ...],
    draw: Callable[[AsyncSession, PatientVersion], Awaitable[View]],
) -> bytes:
    """A view of a patient's blocks (a timeline page, outcomes): from the cache, or drawn by
    `draw` in one read and kept under `view`, the patient and their PatientVersion; kept only
    if that key still holds once drawn (app/core/view_cache.py says why)."""
    version = await patient_version(services.db, caller, patient_id)
    key = (*view, patient_id, version)
    if (cached := services.views.get(key, services.clock.now())) is not None:
        return cached.body
    async with services.db.read() as session:
        drawn = await draw(session, version)
    if await patient_version(services.db, caller, patient_id) == version:
        services.views.put(key, drawn)
    return drawn.body


@dataclass(frozen=True)
class BlockVersion:
    """What a cached view of a block is keyed by (app/core/view_cache.py)."""

    revision: int
    rule_set_version: int


async def block_version(db: Database, caller: Principal, procedure_id: uuid.UUID) -> BlockVersion:
    """load_procedure's check, the block's revision and the clinic's rule set version, in one
    statement outside a transaction: all a cached summary or chart needs."""
    statement = block_view_statement(caller.patient_id is not None)
    row = await db.lookup_row(statement, _scope(caller, procedure_id))
    if row is None:
        raise NotFound("procedure")
    note_patients(row.patient_id)
    return BlockVersion(row.revision, row.rule_set_version)
