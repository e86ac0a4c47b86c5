import uuid
from typing import Annotated

from fastapi import APIRouter, Path

from app.core.deps import CallerDep, ServicesDep, StaffDep
from app.core.errors import problem_responses
from app.core.pagination import CursorQuery, LimitQuery
from app.core.types import Page
from app.procedures import service
from app.procedures.schemas import ProcedureCreate, ProcedureOut

router = APIRouter(prefix="/v1", tags=["procedures"])

PatientIdPath = Annotated[
    uuid.UUID, Path(description="The patient's id. Another clinic's patient is a 404.")
]
ProcedureIdPath = Annotated[
    uuid.UUID, Path(description="The block's id. Another clinic's block is a 404.")
]


@router.post(
    "/patients/{patient_id}/procedures",
    operation_id="create_procedure",
    summary="Record a block; its check-in schedule is created with it",
    description="For clinic staff. The block is numbered next in the patient's sequence "
    "(`sequence_number`). `performed_at` may be at most 5 minutes in the future (422 "
    "otherwise). Check-ins are scheduled 1 h, 4 h, 24 h, 48 h, 72 h, 7 days and 14 days "
    "after `performed_at`, each open for a window; a window already closed when the block is "
    "recorded is `skipped`, and one that closes without a report is `missed` (the clinic's "
    "webhooks get `checkin.missed`).",
    status_code=201,
    response_model=ProcedureOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def create_procedure(
    services: ServicesDep, caller: StaffDep, patient_id: PatientIdPath, body: ProcedureCreate
) -> ProcedureOut:
    return await service.create_procedure(services, caller, patient_id, body)


@router.get(
    "/patients/{patient_id}/procedures",
    operation_id="list_procedures",
    summary="A patient's blocks in sequence",
    description="Clinic staff may list any patient of their clinic; the patient's app only its "
    "own patient (any other is a 404). First block first, each with its check-ins. Paged: "
    "`limit` (default 50) and, for the next page, the previous page's `next_cursor` as "
    "`cursor` (null on the last page).",
    response_model=Page[ProcedureOut],
    responses=problem_responses(400, 401, 404, 422),
)
async def list_procedures(
    services: ServicesDep,
    caller: CallerDep,
    patient_id: PatientIdPath,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[ProcedureOut]:
    return await service.list_procedures(services, caller, patient_id, limit=limit, cursor=cursor)


@router.get(
    "/procedures/{procedure_id}",
    operation_id="get_procedure",
    summary="One block with its check-ins",
    description="Clinic staff may read any block of their clinic; the patient's app only its "
    "own patient's blocks (any other is a 404). Check-ins come in the order they are due, "
    "each `pending`, `completed` (by a report recorded in its window), `missed` or "
    "`skipped`.",
    response_model=ProcedureOut,
    responses=problem_responses(401, 404, 422),
)
async def get_procedure(
    services: ServicesDep, caller: CallerDep, procedure_id: ProcedureIdPath
) -> ProcedureOut:
    return await service.get_procedure(services, caller, procedure_id)
