from fastapi import APIRouter

from app.core.deps import AdminDep, CallerDep, ServicesDep, StaffDep
from app.core.errors import problem_responses
from app.staff import service
from app.staff.schemas import ClinicOut, ClinicUpdate, Me, StaffCreate, StaffOut

router = APIRouter(prefix="/v1", tags=["staff"])


@router.post(
    "/staff",
    operation_id="create_staff_user",
    summary="Add a staff user to the caller's clinic",
    status_code=201,
    response_model=StaffOut,
    responses=problem_responses(401, 403, 409, 422),
)
async def create_staff(services: ServicesDep, caller: AdminDep, body: StaffCreate) -> StaffOut:
    return StaffOut.model_validate(await service.create_staff(services, caller, body))


@router.get(
    "/me",
    operation_id="get_me",
    summary="Who the access token belongs to",
    response_model=Me,
    responses=problem_responses(401, 404),
)
async def me(services: ServicesDep, caller: CallerDep) -> Me:
    return await service.describe_caller(services, caller)


@router.get(
    "/clinic",
    operation_id="get_clinic",
    summary="The caller's clinic and its settings",
    response_model=ClinicOut,
    responses=problem_responses(401, 403),
)
async def get_clinic(services: ServicesDep, caller: StaffDep) -> ClinicOut:
    return await service.get_clinic(services, caller)


@router.patch(
    "/clinic",
    operation_id="update_clinic",
    summary="Change the clinic's escalation delays (admin)",
    description="The delays apply to alerts raised after the change.",
    response_model=ClinicOut,
    responses=problem_responses(401, 403, 422),
)
async def update_clinic(services: ServicesDep, caller: AdminDep, body: ClinicUpdate) -> ClinicOut:
    return await service.update_clinic(services, caller, body)
