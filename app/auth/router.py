from typing import Annotated

from fastapi import APIRouter, Form, Response

from app.auth import service, sessions
from app.auth.schemas import (
    EnrollRequest,
    PasswordChange,
    PatientTokens,
    RefreshRequest,
    StaffSessionOut,
    StaffToken,
)
from app.core.deps import ClientAddressDep, ServicesDep, StaffDep
from app.core.errors import Problem, problem_responses
from app.core.types import storable

router = APIRouter(prefix="/v1", tags=["auth"])


@router.post(
    "/auth/token",
    operation_id="login_staff",
    summary="Staff sign-in (OAuth2 password grant); starts a session",
    description="Each sign-in is a server-side session: it ends at logout, when the user's "
    "password changes, when an admin deactivates the user or ends their sessions, or when "
    "the token expires. Throttled per client address and per account: after repeated wrong "
    "passwords the account is refused (429, `Retry-After`) for a minute, then for twice as "
    "long at each further failure. 503 with `Retry-After` while the server is checking too "
    "many passwords at once.",
    response_model=StaffToken,
    responses=problem_responses(400, 401, 422, 429, 503),
)
async def login_staff(
    services: ServicesDep,
    address: ClientAddressDep,
    username: Annotated[str, Form(min_length=1, max_length=320, description="Staff email.")],
    password: Annotated[str, Form(min_length=1, max_length=256)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
) -> StaffToken:
    try:
        storable(username), storable(password)
    except ValueError as exc:
        raise Problem(400, str(exc)) from exc
    return await service.login_staff(services, username, password, address)


@router.post(
    "/auth/logout",
    operation_id="logout",
    summary="End the current staff session; its token stops working at once",
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 403),
)
async def logout(services: ServicesDep, caller: StaffDep) -> Response:
    await service.logout(services, caller)
    return Response(status_code=204)


@router.get(
    "/me/sessions",
    operation_id="list_my_sessions",
    summary="The caller's staff sessions, newest first (the last 50)",
    response_model=list[StaffSessionOut],
    responses=problem_responses(401, 403),
)
async def list_my_sessions(services: ServicesDep, caller: StaffDep) -> list[StaffSessionOut]:
    return await sessions.list_sessions(services, caller)


@router.post(
    "/me/password",
    operation_id="change_password",
    summary="Change the caller's password; ends every other session of theirs",
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 403, 422, 429, 503),
)
async def change_password(
    services: ServicesDep, caller: StaffDep, body: PasswordChange
) -> Response:
    await sessions.change_password(services, caller, body)
    return Response(status_code=204)


@router.post(
    "/auth/enroll",
    operation_id="enroll_patient_app",
    summary="Exchange a one-time enrollment code for the patient app's tokens",
    description="The phone becomes one of the patient's devices. Enrolling with a new code "
    "signs out every phone enrolled before (that is how a lost phone is cut off). Throttled "
    "per client address (429 with `Retry-After`), longer after repeated wrong codes.",
    response_model=PatientTokens,
    responses=problem_responses(400, 422, 429),
)
async def enroll(
    services: ServicesDep, address: ClientAddressDep, body: EnrollRequest
) -> PatientTokens:
    return await service.enroll(services, body, address)


@router.post(
    "/auth/refresh",
    operation_id="refresh_patient_tokens",
    summary="Rotate the patient app's refresh token",
    description="Throttled per client address (429 with `Retry-After`), longer after "
    "repeated invalid tokens.",
    response_model=PatientTokens,
    responses=problem_responses(401, 422, 429),
)
async def refresh(
    services: ServicesDep, address: ClientAddressDep, body: RefreshRequest
) -> PatientTokens:
    return await service.refresh(services, body.refresh_token, address)
