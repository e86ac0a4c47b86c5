import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from app.auth.schemas import EnrollmentCodeOut
from app.core.deps import CallerDep, ServicesDep, StaffDep
from app.core.errors import problem_responses
from app.core.pagination import CursorQuery, LimitQuery
from app.core.types import Page
from app.patients import service
from app.patients.schemas import PatientCreate, PatientOut, PatientUpdate

router = APIRouter(prefix="/v1/patients", tags=["patients"])


@router.post(
    "",
    operation_id="create_patient",
    summary="Register a patient in the caller's clinic",
    status_code=201,
    response_model=PatientOut,
    responses=problem_responses(401, 403, 409, 422),
)
async def create_patient(
    services: ServicesDep, caller: StaffDep, body: PatientCreate
) -> PatientOut:
    return PatientOut.model_validate(await service.create_patient(services, caller, body))


@router.get(
    "",
    operation_id="list_patients",
    summary="The clinic's patients, newest first; search by exact MRN or part of the name",
    response_model=Page[PatientOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_patients(
    services: ServicesDep,
    caller: StaffDep,
    search: Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[PatientOut]:
    return await service.list_patients(services, caller, search=search, limit=limit, cursor=cursor)


@router.get(
    "/{patient_id}",
    operation_id="get_patient",
    summary="One patient (staff of the clinic, or the patient themself)",
    response_model=PatientOut,
    responses=problem_responses(401, 404, 422),
)
async def get_patient(
    services: ServicesDep, caller: CallerDep, patient_id: uuid.UUID
) -> PatientOut:
    return PatientOut.model_validate(await service.get_patient(services, caller, patient_id))


@router.patch(
    "/{patient_id}",
    operation_id="update_patient",
    summary="Change a patient's details",
    response_model=PatientOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def update_patient(
    services: ServicesDep, caller: StaffDep, patient_id: uuid.UUID, body: PatientUpdate
) -> PatientOut:
    return PatientOut.model_validate(
        await service.update_patient(services, caller, patient_id, body)
    )


@router.post(
    "/{patient_id}/enrollment-codes",
    operation_id="create_enrollment_code",
    summary="A one-time code (valid 72 h) that links the patient's app; replaces unused ones",
    status_code=201,
    response_model=EnrollmentCodeOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def create_enrollment_code(
    services: ServicesDep, caller: StaffDep, patient_id: uuid.UUID
) -> EnrollmentCodeOut:
    return await service.create_enrollment_code(services, caller, patient_id)
