import uuid
from datetime import date

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.record import stage
from app.core.audit import forget_patient, note_patients, note_resource
from app.core.deps import Services
from app.core.domain_errors import AlreadyExists, InvalidField, NotFound, changes_of
from app.core.pagination import cut_page, newer_first_after
from app.core.security import Principal
from app.core.types import Page
from app.credentials.enrollment import EnrollmentCodeOut, issue_enrollment_code
from app.patients.models import Patient
from app.patients.schemas import PatientCreate, PatientOut, PatientUpdate


def visible_patients(caller: Principal) -> Select[tuple[Patient]]:
    """Patients the caller may see: the clinic's, or for a patient only themself."""
    query = select(Patient).where(Patient.clinic_id == caller.clinic_id)
    if caller.patient_id is not None:
        query = query.where(Patient.id == caller.patient_id)
    return query


async def load_patient(
    session: AsyncSession, caller: Principal, patient_id: uuid.UUID, *, for_update: bool = False
) -> Patient:
    query = visible_patients(caller).where(Patient.id == patient_id)
    if for_update:
        query = query.with_for_update(key_share=True)
    patient = await session.scalar(query)
    if patient is None:  # another clinic's or another patient's: indistinguishable from absent
        raise NotFound("patient")
    note_patients(patient.id)
    return patient


def _check_birth_date(services: Services, birth_date: date | None) -> None:
    if birth_date is not None and birth_date > services.clock.now().date():
        raise InvalidField("birth_date", "birth date must not be in the future")


async def _mrn_taken(session: AsyncSession, clinic_id: uuid.UUID, mrn: str) -> bool:
    found = await session.scalar(
        select(Patient.id).where(Patient.clinic_id == clinic_id, Patient.mrn == mrn)
    )
    return found is not None


_MRN_TAKEN = "a patient with this MRN already exists in the clinic"


async def create_patient(services: Services, caller: Principal, body: PatientCreate) -> Patient:
    _check_birth_date(services, body.birth_date)
    now = services.clock.now()
    patient = Patient(
        id=uuid.uuid4(),
        clinic_id=caller.clinic_id,
        created_at=now,
        updated_at=now,
        **body.model_dump(),
    )
    try:
        async with services.db.write() as session:
            if await _mrn_taken(session, caller.clinic_id, body.mrn):
                raise AlreadyExists(_MRN_TAKEN)
            session.add(patient)
            note_patients(patient.id)
            note_resource(patient.id)
            await stage(session, now)
    except IntegrityError as exc:
        forget_patient(patient.id)  # never created
        raise AlreadyExists(_MRN_TAKEN) from exc
    return patient


async def update_patient(
    services: Services, caller: Principal, patient_id: uuid.UUID, body: PatientUpdate
) -> Patient:
    changes = changes_of(body, required=("mrn", "display_name", "timezone", "temperature_unit"))
    _check_birth_date(services, changes.get("birth_date"))
    try:
        async with services.db.write() as session:
            patient = await load_patient(session, caller, patient_id, for_update=True)
            new_mrn = changes.get("mrn")
            if (
                new_mrn
                and new_mrn != patient.mrn
                and await _mrn_taken(session, caller.clinic_id, new_mrn)
            ):
                raise AlreadyExists(_MRN_TAKEN)
            for field, value in changes.items():
                setattr(patient, field, value)
            if changes:
                patient.updated_at = services.clock.now()
            await stage(session, services.clock.now())
    except IntegrityError as exc:
        raise AlreadyExists(_MRN_TAKEN) from exc
    return patient


async def get_patient(services: Services, caller: Principal, patient_id: uuid.UUID) -> Patient:
    async with services.db.read() as session:
        return await load_patient(session, caller, patient_id)


async def list_patients(
    services: Services, caller: Principal, *, search: str | None, limit: int, cursor: str | None
) -> Page[PatientOut]:
    query = visible_patients(caller)
    if search:
        needle = search.strip().lower()
        query = query.where(
            or_(
                func.lower(Patient.mrn) == needle,
                func.lower(Patient.display_name).contains(needle, autoescape=True),
            )
        )
    if cursor:
        query = query.where(newer_first_after(Patient.created_at, Patient.id, cursor))
    query = query.order_by(Patient.created_at.desc(), Patient.id.desc()).limit(limit + 1)
    async with services.db.read() as session:
        rows = list(await session.scalars(query))
    rows, next_cursor = cut_page(rows, limit, lambda r: (r.created_at.isoformat(), r.id))
    note_patients(*(r.id for r in rows))
    return Page[PatientOut](
        items=[PatientOut.model_validate(r) for r in rows], next_cursor=next_cursor
    )


async def create_enrollment_code(
    services: Services, caller: Principal, patient_id: uuid.UUID
) -> EnrollmentCodeOut:
    async with services.db.write() as session:
        await load_patient(session, caller, patient_id, for_update=True)
        code = await issue_enrollment_code(session, services, caller, patient_id)
        await stage(session, services.clock.now())
        return code
