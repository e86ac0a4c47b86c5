"""FastAPI dependencies. None of them owns a transaction: services do (see core/db.py).
All are `async def`: a plain `def` dependency costs a thread-pool hop on every request."""

from dataclasses import dataclass, field
from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlowPassword, OAuthFlows
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2

from app.core.audit import note_actor
from app.core.clock import Clock
from app.core.config import Settings
from app.core.db import Database
from app.core.errors import forbidden, unauthorized
from app.core.keyring import Keyring
from app.core.ratelimit import Throttle, per_minute
from app.core.security import InvalidToken, Principal, bound_password_hashing
from app.integrations.scopes import SCOPES, scope_for


class Authenticator(Protocol):
    async def principal(self, token: str) -> Principal: ...


@dataclass
class Services:
    """What create_app (app/main.py, build_services) builds once and every request shares."""

    settings: Settings
    db: Database
    clock: Clock
    keyring: Keyring
    authenticator: Authenticator
    # Made from the settings: counters in memory, or shared through AFTERCARE_RATE_LIMIT_URL.
    throttle: Throttle = field(init=False)

    def __post_init__(self) -> None:
        self.throttle = Throttle.connect(self.settings.rate_limit_url)
        bound_password_hashing(self.settings.password_hash_concurrency)


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
TOKEN_URL = "/v1/auth/token"  # noqa: S105 (a path, not a secret)
# Two ways to hold the same kind of bearer token, so the OpenAPI document says how to get one:
# staff and integration clients through OAuth 2.0 at TOKEN_URL (Swagger's Authorize signs in
# with it), the patient's app through enrolment. Either one is enough (OpenAPI: alternatives).
_oauth2 = OAuth2(
    flows=OAuthFlows(
        password=OAuthFlowPassword(tokenUrl=TOKEN_URL, scopes={}),
        clientCredentials=OAuthFlowClientCredentials(tokenUrl=TOKEN_URL, scopes=SCOPES),
    ),
    scheme_name="OAuth2",
    description="Staff sign in with the password grant; integration clients use the "
    "client credentials grant and are limited to the scopes they were given.",
    auto_error=False,
)
_patient_bearer = HTTPBearer(
    scheme_name="PatientToken",
    description="The patient app's access token, from /v1/auth/enroll or /v1/auth/refresh.",
    auto_error=False,
)


async def get_principal(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_patient_bearer)],
    _: Annotated[str | None, Depends(_oauth2)],
) -> Principal:
    # Both schemes read the same Authorization header; the bearer one has already parsed it.
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized("a bearer access token is required")
    try:
        principal = await services.authenticator.principal(credentials.credentials)
    except InvalidToken as exc:
        raise unauthorized("the access token is invalid, expired or revoked") from exc
    note_actor(principal)
    if principal.is_client:
        _check_scope(request, principal)
    return principal


def _check_scope(request: Request, client: Principal) -> None:
    """An integration client may call only what OPERATION_SCOPES lists, with that scope; the
    role checks after this one let it through (they are about people)."""
    operation_id = getattr(request.scope.get("route"), "operation_id", None)
    needed = scope_for(operation_id)
    if needed is None:
        raise forbidden("integration clients may not do this")
    if client.scopes is None or needed not in client.scopes:
        raise forbidden(f"this needs the {needed} scope")


CallerDep = Annotated[Principal, Depends(get_principal)]


async def require_staff(caller: CallerDep) -> Principal:
    if not (caller.is_staff or caller.is_client):
        raise forbidden("only clinic staff may do this")
    return caller


async def require_admin(caller: CallerDep) -> Principal:
    if caller.role != "admin" and not caller.is_client:
        raise forbidden("only a clinic admin may do this")
    return caller


async def require_patient(caller: CallerDep) -> Principal:
    if caller.patient_id is None:
        raise forbidden("only the patient's app may do this")
    return caller


StaffDep = Annotated[Principal, Depends(require_staff)]
PatientDep = Annotated[Principal, Depends(require_patient)]
AdminDep = Annotated[Principal, Depends(require_admin)]


async def client_address(request: Request) -> str:
    """The peer's address: behind a reverse proxy, run uvicorn with --proxy-headers and
    --forwarded-allow-ips so this is the client's and not the proxy's."""
    return request.client.host if request.client else "unknown"


ClientAddressDep = Annotated[str, Depends(client_address)]


async def charge_report_writes(services: Services, caller: Principal, reports: int) -> None:
    """Counts reports against the caller's per-minute allowance (429 past it). A batch
    counts each of its reports, but never more than the whole allowance, so one full batch
    always fits in an empty minute."""
    limit = per_minute(services.settings.reports_per_caller_per_minute)
    await services.throttle.take(limit, "reports", str(caller.subject_id), cost=reports)
