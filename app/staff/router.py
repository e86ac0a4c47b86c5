import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Response

from app.core.deps import AdminDep, CallerDep, ServicesDep, StaffDep
from app.core.errors import problem_responses
from app.staff import accounts, service
from app.staff.schemas import ClinicOut, ClinicUpdate, Me, StaffCreate, StaffOut, StaffUpdate

router = APIRouter(prefix="/v1", tags=["staff"])

UserIdPath = Annotated[
    uuid.UUID, Path(description="The staff user's id. Another clinic's user is a 404.")
]


@router.post(
    "/staff",
    operation_id="create_staff_user",
    summary="Add a staff user to the caller's clinic",
    description="For the clinic's admins. The new clinician or admin signs in with this e-mail "
    "and password (`POST /v1/auth/token`). E-mail addresses are unique across every clinic, "
    "ignoring case: one already used is a 409. A password that fails the policy given on "
    "`password` is a 422. 503 with `Retry-After` when the server is too busy hashing "
    "passwords.",
    status_code=201,
    response_model=StaffOut,
    responses=problem_responses(401, 403, 409, 422, 503),
)
async def create_staff(services: ServicesDep, caller: AdminDep, body: StaffCreate) -> StaffOut:
    return StaffOut.model_validate(await service.create_staff(services, caller, body))


@router.get(
    "/staff",
    operation_id="list_staff",
    summary="The clinic's staff users, active and deactivated (admin)",
    description="For the clinic's admins. Every staff user of the caller's clinic, ordered by "
    "name; deactivated users are included with `active: false`. Not paged.",
    response_model=list[StaffOut],
    responses=problem_responses(401, 403),
)
async def list_staff(services: ServicesDep, caller: AdminDep) -> list[StaffOut]:
    return await accounts.list_staff(services, caller)


@router.patch(
    "/staff/{user_id}",
    operation_id="update_staff_user",
    summary="Change a staff user's name or role, or deactivate them (admin)",
    description="Takes effect at the user's next request. `active: false` ends all of the "
    "user's sessions; staff are never deleted, so what they recorded keeps its author. The "
    "clinic's last active admin cannot be demoted or deactivated (409).",
    response_model=StaffOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def update_staff(
    services: ServicesDep, caller: AdminDep, user_id: UserIdPath, body: StaffUpdate
) -> StaffOut:
    return await accounts.update_staff(services, caller, user_id, body)


@router.delete(
    "/staff/{user_id}/sessions",
    operation_id="end_staff_sessions",
    summary="Sign a staff user out everywhere (admin); they may sign in again",
    description="For the clinic's admins. Ends every open session of the user: their access "
    "tokens are refused from their next request. The account stays active (to stop them "
    "signing in again, deactivate them with `PATCH /v1/staff/{user_id}`). 204 also when they "
    "had no open session.",
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 422),
)
async def end_staff_sessions(
    services: ServicesDep, caller: AdminDep, user_id: UserIdPath
) -> Response:
    await accounts.end_staff_sessions(services, caller, user_id)
    return Response(status_code=204)


@router.get(
    "/me",
    operation_id="get_me",
    summary="Who the access token belongs to",
    description="For any signed-in caller. A staff user gets their id, role, name, e-mail and "
    "clinic; the patient's app gets the patient's id (as `id` and `patient_id`), name and "
    "clinic, with `role` `patient`. 404 when the account behind a still-valid token no longer "
    "exists.",
    response_model=Me,
    responses=problem_responses(401, 404),
)
async def me(services: ServicesDep, caller: CallerDep) -> Me:
    return await service.describe_caller(services, caller)


@router.get(
    "/clinic",
    operation_id="get_clinic",
    summary="The caller's clinic and its settings",
    description="For clinic staff. The clinic's name; how many minutes an open emergency or "
    "urgent alert may stay unacknowledged before it escalates (`alert.escalated` to the "
    "clinic's webhooks); and the clinical rule set its reports are judged with "
    "(`GET /v1/rules` lists its rules).",
    response_model=ClinicOut,
    responses=problem_responses(401, 403),
)
async def get_clinic(services: ServicesDep, caller: StaffDep) -> ClinicOut:
    return await service.get_clinic(services, caller)


@router.patch(
    "/clinic",
    operation_id="update_clinic",
    summary="Change the clinic's escalation delays or clinical rule set (admin)",
    description="New delays apply to alerts raised after the change. A new "
    "`rule_set_version` judges the reports stored after the change; reports and alerts "
    "already stored keep the version that judged them (`POST /v1/rules/dry-run` shows what "
    "a version would change on the clinic's history first). In the audit trail a request "
    "that moves the clinic to another rule set is `clinic.rule_set_change` (`resource_type` "
    "`rule_set`, `resource_id` the version moved to); any other change is `clinic.update`.",
    response_model=ClinicOut,
    responses=problem_responses(401, 403, 422),
)
async def update_clinic(services: ServicesDep, caller: AdminDep, body: ClinicUpdate) -> ClinicOut:
    return await service.update_clinic(services, caller, body)
