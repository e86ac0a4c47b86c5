"""What every FHIR route shares: the media type, OperationOutcome errors, searchset Bundles
with keyset paging, references, deterministic ids and who may call.

Errors on /fhir paths are OperationOutcomes, whoever raises them: FhirError here, and the
API's own problems (401 from authentication, 404 for unknown paths, validation errors), which
`install_fhir_handlers` has app/core/errors.py hand to `outcome_for_fhir_paths`.
"""

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select

from app.core.audit import note_patients
from app.core.deps import Services, StaffDep
from app.core.errors import VALIDATION_ERROR, RenderedProblem, add_problem_renderer
from app.core.security import Principal

T = TypeVar("T")
FHIR_JSON = "application/fhir+json"
FHIR_BASE_PATH = "/fhir/r4"
FHIR_VERSION = "4.0.1"
# Aftercare's own canonical URLs: CodeSystems, the Questionnaire, identifier systems.
AFTERCARE_SYSTEM_BASE = "https://aftercare.example/fhir"
DEFAULT_COUNT = 50
MAX_COUNT = 200
# Parameters any search takes besides its own (the paging ones and the format).
COMMON_SEARCH_PARAMS = frozenset({"_count", "_cursor", "_format"})
_JSON_FORMATS = frozenset({"json", "application/json", FHIR_JSON})


class FhirError(Exception):
    """Raised anywhere in a FHIR request; rendered as an OperationOutcome with this status.
    `code` is a FHIR issue type: not-found, invalid, forbidden, login, too-costly, ..."""

    def __init__(
        self,
        status: int,
        code: str,
        diagnostics: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.code = code
        self.diagnostics = diagnostics
        self.headers = headers


# The issue type an HTTP status stands for when the error did not say (a problem).
_ISSUE_BY_STATUS = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    413: "too-costly",
    422: "invalid",
    429: "throttled",
}


def issue_code(status: int) -> str:
    return _ISSUE_BY_STATUS.get(status, "exception" if status >= 500 else "processing")


def operation_outcome(code: str, diagnostics: str, severity: str = "error") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


def outcome_response(
    status: int, code: str, diagnostics: str, headers: dict[str, str] | None = None
) -> Response:
    return fhir_response(operation_outcome(code, diagnostics), status=status, headers=headers)


def fhir_response(
    resource: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(resource, status_code=status, media_type=FHIR_JSON, headers=headers)


def outcome_for_fhir_paths(request: Request, problem: RenderedProblem) -> Response | None:
    """On /fhir paths an error is a FHIR OperationOutcome, not problem+json."""
    if not request.url.path.startswith("/fhir/"):
        return None
    if problem.slug == VALIDATION_ERROR:
        # FHIR answers a bad search parameter with 400; only the location is echoed.
        where = ", ".join(".".join(str(p) for p in i["loc"]) for i in problem.errors or ())
        return outcome_response(400, issue_code(400), f"not valid: {where}")
    return outcome_response(
        problem.status, issue_code(problem.status), problem.detail, problem.headers
    )


def install_fhir_handlers(app: FastAPI) -> None:
    """After install_problem_handlers (app/core/errors.py)."""

    @app.exception_handler(FhirError)
    async def _fhir_error(_: Request, exc: FhirError) -> Response:
        return outcome_response(exc.status, exc.code, exc.diagnostics, exc.headers)

    add_problem_renderer(app, outcome_for_fhir_paths)


def not_found(resource_type: str) -> FhirError:
    # The same answer for "never existed" and "another clinic's": tenancy is not disclosed.
    return FhirError(404, "not-found", f"{resource_type} not found")


def invalid(diagnostics: str) -> FhirError:
    return FhirError(400, "invalid", diagnostics)


def reference(resource_type: str, id: uuid.UUID | str) -> dict[str, str]:
    return {"reference": f"{resource_type}/{id}"}


def parse_id(raw: str, resource_type: str) -> uuid.UUID:
    """A path id as the uuid our resources use; anything else cannot exist (404, not 422)."""
    try:
        return uuid.UUID(raw)
    except ValueError as exc:
        raise not_found(resource_type) from exc


def reference_id(raw: str, resource_type: str) -> uuid.UUID:
    """A reference search value, `Patient/<id>` or a bare `<id>`. An id that cannot be ours
    matches nothing; an unreadable one is an error (a typo should not look like "no data")."""
    value = raw.removeprefix(f"{resource_type}/")
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise invalid(f"not a {resource_type} reference") from exc


def search_values(request: Request, name: str) -> list[str]:
    """A parameter's values: repeats are AND in FHIR, commas OR; we take them as one OR set
    only when given once, and refuse repeats rather than guess."""
    given = request.query_params.getlist(name)
    if len(given) > 1:
        raise invalid(f"{name} may be given once (use commas for alternatives)")
    return [v for v in given[0].split(",") if v] if given else []


def reference_ids(request: Request, name: str, resource_type: str) -> list[uuid.UUID]:
    """A reference search parameter's ids (see search_values and reference_id)."""
    return [reference_id(v, resource_type) for v in search_values(request, name)]


async def clinic_row(
    services: Services, caller: Principal, model: type[T], raw_id: str, resource_type: str
) -> T:
    """A read: the caller's clinic's row of `model` by its path id (another clinic's is as
    absent as one never made: 404), its patient noted for the audit."""
    row_id = parse_id(raw_id, resource_type)
    table: Any = model
    async with services.db.read() as session:
        row = await session.scalar(
            select(table).where(table.id == row_id, table.clinic_id == caller.clinic_id)
        )
    if row is None:
        raise not_found(resource_type)
    # A Patient is its own patient; every other row names its patient.
    note_patients(getattr(row, "patient_id", row.id))
    return cast(T, row)


def instant(dt: datetime) -> str:
    """A FHIR instant (also a valid dateTime): UTC with `Z`. A naive value is UTC (SQLite)."""
    moment = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


# Strings, not ints: FastAPI would answer a non-number with 422, FHIR wants a 400 outcome.
CountParam = Annotated[str | None, Query(alias="_count")]
CursorParam = Annotated[str | None, Query(alias="_cursor", max_length=512)]


def count_value(raw: str | None) -> int:
    """The page size: 50 unless asked; more than 200 is served as 200 (FHIR lets a server
    return fewer than _count); 0, negatives and non-numbers are refused."""
    if raw is None:
        return DEFAULT_COUNT
    if not re.fullmatch(r"[0-9]{1,6}", raw) or int(raw) < 1:
        raise invalid("_count must be a whole number from 1")
    return min(int(raw), MAX_COUNT)


def check_params(request: Request, allowed: frozenset[str] | set[str]) -> None:
    """Refuses a parameter this search does not support rather than ignoring it: ignoring a
    filter would answer with more patients' data than the caller asked for."""
    for name in request.query_params:
        if name not in allowed and name not in COMMON_SEARCH_PARAMS:
            raise invalid(f"the search parameter {name} is not supported")


def check_format(request: Request) -> None:
    """JSON only: `_format` may ask for it by any of its names, and nothing else. A dependency
    of every FHIR router (FHIR_ROUTE_DEPENDENCIES), so no route can leave it out."""
    fmt = request.query_params.get("_format")
    if fmt is not None and fmt not in _JSON_FORMATS:
        raise FhirError(406, "not-supported", "only JSON is served")


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + FHIR_BASE_PATH


def searchset(
    request: Request,
    resources: list[dict[str, Any]],
    next_cursor: str | None,
    total: int | None = None,
) -> dict[str, Any]:
    base = base_url(request)
    links = [{"relation": "self", "url": str(request.url)}]
    if next_cursor is not None:
        links.append(
            {"relation": "next", "url": str(request.url.include_query_params(_cursor=next_cursor))}
        )
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset"}
    if total is not None:
        bundle["total"] = total
    bundle["link"] = links
    bundle["entry"] = [
        {
            "fullUrl": f"{base}/{resource['resourceType']}/{resource['id']}",
            "resource": resource,
            "search": {"mode": "match"},
        }
        for resource in resources
    ]
    return bundle


# Staff and integration clients (whose scope get_principal has checked): the same rule as
# /v1's staff routes; the patient's app has its own API. Its 403 is an OperationOutcome here.
FhirCallerDep = StaffDep
# On every FHIR router.
FHIR_ROUTE_DEPENDENCIES = [Depends(check_format)]
