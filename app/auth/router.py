from typing import Annotated

from fastapi import APIRouter, Form

from app.auth import service
from app.auth.schemas import EnrollRequest, PatientTokens, RefreshRequest, StaffToken
from app.core.deps import ServicesDep
from app.core.errors import Problem, problem_responses
from app.core.types import storable

router = APIRouter(prefix="/v1/auth", tags=["auth"])


@router.post(
    "/token",
    operation_id="login_staff",
    summary="Staff sign-in (OAuth2 password grant)",
    response_model=StaffToken,
    responses=problem_responses(400, 401, 422),
)
async def login_staff(
    services: ServicesDep,
    username: Annotated[str, Form(min_length=1, max_length=320, description="Staff email.")],
    password: Annotated[str, Form(min_length=1, max_length=256)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
) -> StaffToken:
    try:
        storable(username), storable(password)
    except ValueError as exc:
        raise Problem(400, str(exc)) from exc
    return await service.login_staff(services, username, password)


@router.post(
    "/enroll",
    operation_id="enroll_patient_app",
    summary="Exchange a one-time enrollment code for the patient app's tokens",
    response_model=PatientTokens,
    responses=problem_responses(400, 422),
)
async def enroll(services: ServicesDep, body: EnrollRequest) -> PatientTokens:
    return await service.enroll(services, body.code)


@router.post(
    "/refresh",
    operation_id="refresh_patient_tokens",
    summary="Rotate the patient app's refresh token",
    response_model=PatientTokens,
    responses=problem_responses(401, 422),
)
async def refresh(services: ServicesDep, body: RefreshRequest) -> PatientTokens:
    return await service.refresh(services, body.refresh_token)
