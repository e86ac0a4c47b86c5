"""RFC 9457 problem+json for every error the API can return."""

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.logsafe import log_failure

log = logging.getLogger("aftercare")
PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://aftercare.example/problems/"


class Problem(Exception):
    """Raised anywhere in a request; rendered as problem+json with this status."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        headers: dict[str, str] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or HTTPStatus(status).phrase.lower().replace(" ", "-")
        self.headers = headers
        self.errors = errors


def not_found(what: str) -> Problem:
    return Problem(404, f"{what} not found")


def invalid_field(loc: list[str | int], msg: str) -> Problem:
    """A 422 for a rule pydantic cannot check alone (it needs the clock or stored data)."""
    return Problem(
        422,
        "The request is not valid; see errors.",
        slug="validation-error",
        errors=[{"loc": loc, "msg": msg, "type": "value_error"}],
    )


def changes_of(body: BaseModel, *, required: tuple[str, ...]) -> dict[str, Any]:
    """The fields a PATCH body sets; a required field may be left out but not set to null."""
    changes = body.model_dump(exclude_unset=True)
    for name in required:
        if name in changes and changes[name] is None:
            raise invalid_field(["body", name], "must not be null")
    return changes


def conflict(detail: str) -> Problem:
    return Problem(409, detail)


def forbidden(detail: str = "your role may not do this") -> Problem:
    return Problem(403, detail)


def unauthorized(detail: str) -> Problem:
    return Problem(401, detail, headers={"WWW-Authenticate": "Bearer"})


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ProblemDetails(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    errors: list[ValidationIssue] | None = None


def problem_response(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": problem_type(status, slug),
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def problem_type(status: int, slug: str | None = None) -> str:
    """The problem's `type` URI: its slug, or else its status phrase ("too-many-requests")."""
    return TYPE_BASE + (slug or HTTPStatus(status).phrase.lower().replace(" ", "-"))


def validation_issues(raw: list[Any]) -> list[dict[str, Any]]:
    # Never echo the input back: it may hold patient data or bytes the client cannot read.
    return [
        {
            "loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "invalid")),
            "type": str(e.get("type", "value_error")),
        }
        for e in raw
    ]


def _fhir_outcome(
    request: Request, status: int, detail: str, headers: dict[str, str] | None
) -> Response | None:
    """On /fhir paths an error is a FHIR OperationOutcome, not problem+json."""
    if not request.url.path.startswith("/fhir/"):
        return None
    # Imported here: app.fhir.common imports this module (through app.core.deps).
    from app.fhir.common import issue_code, outcome_response

    return outcome_response(status, issue_code(status), detail, headers)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        if fhir := _fhir_outcome(request, exc.status, exc.detail, exc.headers):
            return fhir
        return problem_response(
            exc.status, exc.detail, slug=exc.slug, headers=exc.headers, errors=exc.errors
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        issues = validation_issues(list(exc.errors()))
        # FHIR answers a bad search parameter with 400; only the location is echoed.
        where = ", ".join(".".join(str(p) for p in i["loc"]) for i in issues)
        if fhir := _fhir_outcome(request, 400, f"not valid: {where}", None):
            return fhir
        return problem_response(
            422, "The request is not valid; see errors.", slug="validation-error", errors=issues
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        headers = dict(exc.headers) if exc.headers else None
        if fhir := _fhir_outcome(request, exc.status_code, detail, headers):
            return fhir
        return problem_response(exc.status_code, detail, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log_failure(log, "unhandled error", exc)
        # Starlette answers this from outside every middleware, SafeHeaders (core/edge.py)
        # included, so the 500 carries its headers itself. A fixed sentence: the exception's
        # text can quote row values.
        detail = "An unexpected error occurred; it has been logged."
        if fhir := _fhir_outcome(request, 500, detail, SAFE_HEADERS | NO_STORE):
            return fhir
        return problem_response(500, detail, headers=SAFE_HEADERS | NO_STORE)


# What every response carries (core/edge.py, SafeHeaders), and every /v1 response NO_STORE.
SAFE_HEADERS = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}
NO_STORE = {"cache-control": "no-store"}


PROBLEM_DETAILS_REF = "#/components/schemas/ProblemDetails"


def problem_response_doc(status: int, description: str | None = None) -> dict[str, Any]:
    """An error response as the OpenAPI document declares it: ProblemDetails under the media
    type the handlers above really send. Not `model=ProblemDetails`, which FastAPI would put
    under application/json; app/core/openapi.py adds the component itself."""
    return {
        "description": description or HTTPStatus(status).phrase,
        "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_DETAILS_REF}}},
    }


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations so clients (and schemathesis) know every error shape."""
    return {s: problem_response_doc(s) for s in statuses}
