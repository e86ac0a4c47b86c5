import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query

from app.core.deps import CallerDep, ServicesDep, StaffDep
from app.core.errors import problem_responses
from app.core.pagination import CursorQuery, LimitQuery
from app.core.types import Page
from app.credentials.enrollment import EnrollmentCodeOut
from app.patients import service
from app.patients.schemas import PatientCreate, PatientOut, PatientUpdate

router = APIRouter(prefix="/v1/patients", tags=["patients"])

PatientIdPath = Annotated[
    uuid.UUID, Path(description="The patient's id. Another clinic's patient is a 404.")
]


@router.post(
    "",
    operation_id="create_patient",
    summary="Register a patient in the caller's clinic",
    description="For clinic staff. `mrn` must be unique within the clinic (409 otherwise); "
    "`timezone` is an IANA name such as America/Chicago; `birth_date`, when given, must not "
    "be in the future. Then record the patient's block (`POST "
    "/v1/patients/{patient_id}/procedures`) and link their app with an enrollment code.",
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
    description="For clinic staff: the caller's clinic's patients, the most recently "
    "registered first. `search` matches a whole MRN or any part of the display name, "
    "ignoring case. Paged: `limit` (default 50) and, for the next page, the previous page's "
    "`next_cursor` as `cursor` (null on the last page).",
    response_model=Page[PatientOut],
    responses=problem_responses(400, 401, 403, 422),
)
async def list_patients(
    services: ServicesDep,
    caller: StaffDep,
    search: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=r"^[^\x00]*$",
            description="A whole MRN, or part of the display name (case-insensitive).",
        ),
    ] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[PatientOut]:
    return await service.list_patients(services, caller, search=search, limit=limit, cursor=cursor)


@router.get(
    "/{patient_id}",
    operation_id="get_patient",
    summary="One patient (staff of the clinic, or the patient themself)",
    description="Clinic staff may read any patient of their clinic; the patient's app only its "
    "own patient. Any other patient, another clinic's included, is a 404.",
    response_model=PatientOut,
    responses=problem_responses(401, 404, 422),
)
async def get_patient(
    services: ServicesDep, caller: CallerDep, patient_id: PatientIdPath
) -> PatientOut:
    return PatientOut.model_validate(await service.get_patient(services, caller, patient_id))


@router.patch(
    "/{patient_id}",
    operation_id="update_patient",
    summary="Change a patient's details",
    description="For clinic staff. Send only the fields to change; a field left out keeps its "
    "value. `birth_date` may be set to null to clear it; the other fields may not be null "
    "(422). An `mrn` already used by another patient of the clinic is a 409.",
    response_model=PatientOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def update_patient(
    services: ServicesDep, caller: StaffDep, patient_id: PatientIdPath, body: PatientUpdate
) -> PatientOut:
    return PatientOut.model_validate(
        await service.update_patient(services, caller, patient_id, body)
    )


@router.post(
    "/{patient_id}/enrollment-codes",
    operation_id="create_enrollment_code",
    summary="A one-time code (valid 72 h) that links the patient's app; replaces unused ones",
    description="For clinic staff. Give the code to the patient (printed or read out): their "
    "app exchanges it once at `POST /v1/auth/enroll` for its tokens, which act for this "
    "patient only. The code is valid for 72 hours by default (`expires_at` says until when) "
    "and is shown only in this response. Issuing a code voids the patient's unused ones, so "
    "only the latest works.",
    status_code=201,
    response_model=EnrollmentCodeOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def create_enrollment_code(
    services: ServicesDep, caller: StaffDep, patient_id: PatientIdPath
) -> EnrollmentCodeOut:
    return await service.create_enrollment_code(services, caller, patient_id)
