import uuid

from fastapi import APIRouter

from app.core.deps import CallerDep, ServicesDep, StaffDep
from app.core.errors import problem_responses
from app.core.pagination import CursorQuery, LimitQuery
from app.core.types import Page
from app.procedures import service
from app.procedures.schemas import ProcedureCreate, ProcedureOut

router = APIRouter(prefix="/v1", tags=["procedures"])


@router.post(
    "/patients/{patient_id}/procedures",
    operation_id="create_procedure",
    summary="Record a block; its check-in schedule is created with it",
    status_code=201,
    response_model=ProcedureOut,
    responses=problem_responses(401, 403, 404, 422),
)
async def create_procedure(
    services: ServicesDep, caller: StaffDep, patient_id: uuid.UUID, body: ProcedureCreate
) -> ProcedureOut:
    return await service.create_procedure(services, caller, patient_id, body)


@router.get(
    "/patients/{patient_id}/procedures",
    operation_id="list_procedures",
    summary="A patient's blocks in sequence",
    response_model=Page[ProcedureOut],
    responses=problem_responses(400, 401, 404, 422),
)
async def list_procedures(
    services: ServicesDep,
    caller: CallerDep,
    patient_id: uuid.UUID,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> Page[ProcedureOut]:
    return await service.list_procedures(services, caller, patient_id, limit=limit, cursor=cursor)


@router.get(
    "/procedures/{procedure_id}",
    operation_id="get_procedure",
    summary="One block with its check-ins",
    response_model=ProcedureOut,
    responses=problem_responses(401, 404, 422),
)
async def get_procedure(
    services: ServicesDep, caller: CallerDep, procedure_id: uuid.UUID
) -> ProcedureOut:
    return await service.get_procedure(services, caller, procedure_id)
