"""FastAPI dependencies. None of them owns a transaction: services do (see core/db.py).
All are `async def`: a plain `def` dependency costs a thread-pool hop on every request."""

from dataclasses import dataclass, field
from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlowPassword, OAuthFlows
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2

from app.core.audit import note_actor
from app.core.clock import Clock
from app.core.config import CLIENT_TOKEN_SECONDS, MAX_CLIENT_TOKEN_SECONDS, Settings
from app.core.db import Database
from app.core.domain_errors import NotAuthenticated, NotPermitted
from app.core.keyring import Keyring
from app.core.ratelimit import Throttle, per_minute
from app.core.scopes import SCOPES, scope_for, scope_satisfied
from app.core.security import InvalidToken, Principal, bound_password_hashing
from app.core.view_cache import ViewCache


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
    views: ViewCache = field(init=False)

    def __post_init__(self) -> None:
        self.throttle = Throttle.connect(self.settings.rate_limit_url)
        self.views = ViewCache(self.settings.view_cache_mb * 1024 * 1024)
        # Views keyed by revisions that a restored or failed-over database may reuse.
        self.db.connection_lost.append(self.views.clear)
        bound_password_hashing(self.settings.password_hash_concurrency)


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
TOKEN_URL = "/v1/auth/token"  # noqa: S105 (a path, not a secret)


def public_base(request: Request, settings: Settings) -> str:
    """This server's externally visible base URL, without a trailing slash: the setting
    `public_base_url` when set (behind a proxy the Host header is the client's to choose),
    else the request's own base URL."""
    return (settings.public_base_url or str(request.base_url)).rstrip("/")


def token_url(request: Request, settings: Settings) -> str:
    """The token endpoint's absolute URL: what a client assertion's `aud` must be, and what
    the OAuth and SMART metadata name."""
    return public_base(request, settings) + TOKEN_URL


# Three ways to get the same kind of bearer token, so the OpenAPI document says how: staff
# sign in at TOKEN_URL with the password grant (Swagger's Authorize does it), integration
# clients use the client credentials grant there and are limited to their scopes, and the
# patient's app gets one by enrolment. Any one is enough (OpenAPI: alternatives). Two OAuth2
# schemes rather than one with both flows: a requirement's scopes belong to a scheme, and
# staff tokens carry none.
_staff_login = OAuth2(
    flows=OAuthFlows(password=OAuthFlowPassword(tokenUrl=TOKEN_URL, scopes={})),
    scheme_name="StaffLogin",
    description="Clinic staff: the OAuth 2.0 password grant with their e-mail and password. "
    "What a staff token may do is decided by the user's role.",
    auto_error=False,
)
_integration_client = OAuth2(
    flows=OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(tokenUrl=TOKEN_URL, scopes=SCOPES)
    ),
    scheme_name="IntegrationClient",
    description="A clinic system's own credentials: the client credentials grant, with HTTP "
    "Basic (client_secret_basic) or a signed client assertion (private_key_jwt). Limited to "
    "the scopes the client was given; tokens live "
    f"{CLIENT_TOKEN_SECONDS} seconds by default, at most {MAX_CLIENT_TOKEN_SECONDS}.",
    auto_error=False,
)
_patient_bearer = HTTPBearer(
    scheme_name="PatientToken",
    description="The patient app's access token, from /v1/auth/enroll or /v1/auth/refresh.",
    auto_error=False,
)
# The OpenAPI document declares all three (app/api/openapi.py). Only the bearer one runs per
# request: each reads the same Authorization header, and it has parsed it already.
SECURITY_SCHEMES = (_staff_login, _integration_client, _patient_bearer)


async def get_principal(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_patient_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated("a bearer access token is required")
    try:
        principal = await services.authenticator.principal(credentials.credentials)
    except InvalidToken as exc:
        raise NotAuthenticated("the access token is invalid, expired or revoked") from exc
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
        raise NotPermitted("integration clients may not do this")
    if client.scopes is None or not scope_satisfied(needed, client.scopes):
        raise NotPermitted(f"this needs the {needed} scope")


CallerDep = Annotated[Principal, Depends(get_principal)]


async def require_staff(caller: CallerDep) -> Principal:
    if not (caller.is_staff or caller.is_client):
        raise NotPermitted("only clinic staff may do this")
    return caller


async def require_admin(caller: CallerDep) -> Principal:
    if caller.role != "admin" and not caller.is_client:
        raise NotPermitted("only a clinic admin may do this")
    return caller


async def require_patient(caller: CallerDep) -> Principal:
    if caller.patient_id is None:
        raise NotPermitted("only the patient's app may do this")
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
