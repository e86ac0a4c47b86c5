from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import JSONResponse

from app.auth import grants, service, sessions
from app.auth.oauth import OAuthProblem, oauth_error_responses
from app.auth.schemas import (
    AccessToken,
    EnrollRequest,
    PasswordChange,
    PatientTokens,
    RefreshRequest,
    StaffSessionOut,
    TokenRequest,
)
from app.core.config import CLIENT_TOKEN_SECONDS as _CLIENT_TOKEN_SECONDS
from app.core.config import MAX_CLIENT_TOKEN_SECONDS as _CLIENT_TOKEN_MAX
from app.core.deps import ClientAddressDep, ServicesDep, StaffDep
from app.core.errors import problem_responses

router = APIRouter(prefix="/v1", tags=["auth"])


@router.post(
    "/auth/token",
    operation_id="login_staff",
    summary="Get an access token (OAuth 2.0 password or client credentials grant)",
    description="**Staff** use the password grant (`grant_type=password`, the default, with "
    "`username` and `password`). Each sign-in is a server-side session: it ends at logout, "
    "when the user's password changes, when an admin deactivates the user or ends their "
    "sessions, or when the token expires.\n\n"
    "**Integration clients** use `grant_type=client_credentials`, authenticated either with "
    "HTTP Basic (`client_secret_basic`: the client id and secret) or with a signed client "
    "assertion (`private_key_jwt`, as in SMART Backend Services: `client_assertion_type` "
    "`urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and `client_assertion`, a JWT "
    "signed RS384 or ES384 by a key of the client's JWK set, `aud` this endpoint's absolute "
    "URL, `exp` at most 5 minutes ahead, a `jti` never used before). `scope` may narrow the "
    "client's scopes (`system/*.read` covers each `system/<Type>.read`); it is looked at only "
    "once the client has authenticated. A client token lives "
    f"{_CLIENT_TOKEN_SECONDS} seconds by default, at most {_CLIENT_TOKEN_MAX} "
    "(`expires_in` says how long), and the response names its `scope`. Every failed client "
    "authentication (unknown or revoked client, wrong secret, an assertion that does not "
    "verify or was used before) is the same 401 `invalid_client`. See "
    "`/.well-known/oauth-authorization-server`.\n\n"
    "Errors of the grant itself are OAuth 2.0 errors (RFC 6749 section 5.2) in "
    "`application/json`: `error` and `error_description`, with the problem members beside "
    "them. Throttled per client address and, for staff, per account: after repeated failures "
    "the account or address is refused (429, `Retry-After`) for a minute, then for twice as "
    "long at each further failure. 503 with `Retry-After` while the server is checking too "
    "many passwords at once. 429 and 503 are problem+json, as elsewhere.",
    response_model=AccessToken,
    response_model_exclude_none=True,
    responses={**oauth_error_responses(), **problem_responses(429, 503)},
)
async def login_staff(
    request: Request,
    services: ServicesDep,
    address: ClientAddressDep,
    form: Annotated[TokenRequest, Form()],
) -> AccessToken | JSONResponse:
    try:
        return await grants.issue_token(services, form, request, address)
    except OAuthProblem as exc:
        return exc.response()


@router.post(
    "/auth/logout",
    operation_id="logout",
    summary="End the current staff session; its token stops working at once",
    description="Only the session this request's token belongs to; the user's other "
    "sessions go on. Staff only.",
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
    description="Open and ended ones, with when and why each ended and where it was "
    "started from; `current` marks this request's own. Staff only.",
    response_model=list[StaffSessionOut],
    responses=problem_responses(401, 403),
)
async def list_my_sessions(services: ServicesDep, caller: StaffDep) -> list[StaffSessionOut]:
    return await sessions.list_sessions(services, caller)


@router.post(
    "/me/password",
    operation_id="change_password",
    summary="Change the caller's password; ends every other session of theirs",
    description="The current password must be given; a wrong one counts against the "
    "account's sign-in lockout (429 with `Retry-After` once locked). The new one must pass "
    "the password policy (422). 503 with `Retry-After` while the server is checking too "
    "many passwords at once. Staff only.",
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
