"""FastAPI dependencies. None of them owns a transaction: services do (see core/db.py).
All are `async def`: a plain `def` dependency costs a thread-pool hop on every request."""

from dataclasses import dataclass, field
from typing import Annotated, Protocol

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.core.audit import note_actor
from app.core.clock import Clock
from app.core.config import Settings
from app.core.db import Database
from app.core.errors import forbidden, unauthorized
from app.core.keyring import Keyring
from app.core.ratelimit import Throttle, per_minute
from app.core.security import InvalidToken, Principal, bound_password_hashing


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
_bearer = HTTPBearer(
    auto_error=False, description="An access token from /v1/auth/token or /v1/auth/enroll."
)


async def get_principal(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized("a bearer access token is required")
    try:
        principal = await services.authenticator.principal(credentials.credentials)
    except InvalidToken as exc:
        raise unauthorized("the access token is invalid, expired or revoked") from exc
    note_actor(principal)
    return principal


CallerDep = Annotated[Principal, Depends(get_principal)]


async def require_staff(caller: CallerDep) -> Principal:
    if not caller.is_staff:
        raise forbidden("only clinic staff may do this")
    return caller


async def require_admin(caller: CallerDep) -> Principal:
    if caller.role != "admin":
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
