"""RFC 9457 problem+json for every error the API can return.

The domain's errors (app/core/domain_errors.py) say what went wrong; PROBLEM_KINDS below is
the one place that says how each is answered. A module that answers errors in its own format
on its own paths (FHIR: OperationOutcome) adds a renderer; core knows no such module.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.domain_errors import (
    SEE_ERRORS,
    AlreadyExists,
    DomainError,
    InvalidCursor,
    InvalidEnrollmentCode,
    InvalidField,
    InvalidParameter,
    LimitReached,
    NotAuthenticated,
    NotFound,
    NotPermitted,
    ReportCapReached,
    ServiceMisconfigured,
    StateConflict,
    TooManyPasswordChecks,
    TooManyRequests,
)
from app.core.logsafe import log_failure

log = logging.getLogger("aftercare")
PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://aftercare.example/problems/"
VALIDATION_ERROR = "validation-error"

Issues = list[dict[str, Any]]
E = TypeVar("E", bound=DomainError)


@dataclass(frozen=True)
class ProblemKind:
    """How one kind of domain error is answered."""

    status: int
    slug: str | None = None  # None: the status phrase, "not-found"
    headers: Callable[[Any], dict[str, str]] | None = None
    errors: Callable[[Any], Issues] | None = None


def _kind(
    error: type[E],
    status: int,
    slug: str | None = None,
    *,
    headers: Callable[[E], dict[str, str]] | None = None,
    errors: Callable[[E], Issues] | None = None,
) -> tuple[type[DomainError], ProblemKind]:
    # Typed per row, so each row's lambdas are checked against its own exception class.
    return error, ProblemKind(status, slug, headers, errors)


def _issue(loc: list[str | int], msg: str, type_: str = "value_error") -> Issues:
    return [{"loc": loc, "msg": msg, "type": type_}]


def _retry_after(error: TooManyRequests | TooManyPasswordChecks) -> dict[str, str]:
    return {"Retry-After": str(error.retry_after)}


PROBLEM_KINDS: dict[type[DomainError], ProblemKind] = dict(
    [
        _kind(NotFound, 404),
        _kind(
            InvalidField,
            422,
            VALIDATION_ERROR,
            errors=lambda e: _issue(["body", e.field], e.msg),
        ),
        _kind(
            InvalidParameter,
            422,
            VALIDATION_ERROR,
            errors=lambda e: _issue(["query", e.name], e.msg),
        ),
        _kind(InvalidCursor, 400, "invalid-cursor"),
        _kind(AlreadyExists, 409),
        _kind(StateConflict, 409),
        _kind(LimitReached, 409),
        # 409, as the block's state refuses it: not the request (422) nor the caller's pace
        # (429, whose Retry-After would have the app resend a report that can never be stored).
        _kind(
            ReportCapReached,
            409,
            "report-cap-reached",
            errors=lambda _: _issue(["path", "procedure_id"], "the block is full", "report_cap"),
        ),
        _kind(NotAuthenticated, 401, headers=lambda _: {"WWW-Authenticate": "Bearer"}),
        _kind(NotPermitted, 403),
        _kind(InvalidEnrollmentCode, 400, "invalid-code"),
        _kind(TooManyRequests, 429, headers=_retry_after),
        # 503, not 429: the server is saturated, whoever the caller is.
        _kind(TooManyPasswordChecks, 503, "busy", headers=_retry_after),
        _kind(ServiceMisconfigured, 503),
    ]
)


def kind_of(error_class: type[DomainError]) -> ProblemKind:
    """The row of the class or of its nearest ancestor (a module may name a finer subclass)."""
    for cls in error_class.__mro__:
        if cls in PROBLEM_KINDS:
            return PROBLEM_KINDS[cls]
    raise LookupError(f"{error_class.__name__} has no row in PROBLEM_KINDS")


@dataclass(frozen=True)
class RenderedProblem:
    """A problem as the response states it."""

    status: int
    detail: str
    slug: str | None = None
    errors: Issues | None = None
    headers: dict[str, str] | None = None

    @property
    def type(self) -> str:
        return problem_type(self.status, self.slug)


def render(error: DomainError) -> RenderedProblem:
    kind = kind_of(type(error))
    return RenderedProblem(
        kind.status,
        error.detail,
        kind.slug,
        kind.errors(error) if kind.errors else None,
        kind.headers(error) if kind.headers else None,
    )


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
    errors: Issues | None = None,
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


def respond(problem: RenderedProblem) -> JSONResponse:
    return problem_response(
        problem.status,
        problem.detail,
        slug=problem.slug,
        errors=problem.errors,
        headers=problem.headers,
    )


def problem_type(status: int, slug: str | None = None) -> str:
    """The problem's `type` URI: its slug, or else its status phrase ("too-many-requests")."""
    return TYPE_BASE + (slug or HTTPStatus(status).phrase.lower().replace(" ", "-"))


def validation_issues(raw: list[Any]) -> Issues:
    # Never echo the input back: it may hold patient data or bytes the client cannot read.
    return [
        {
            "loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "invalid")),
            "type": str(e.get("type", "value_error")),
        }
        for e in raw
    ]


# Answers a problem in another format, or None to leave it to problem+json.
ProblemRenderer = Callable[[Request, RenderedProblem], Response | None]


def add_problem_renderer(app: FastAPI, renderer: ProblemRenderer) -> None:
    """After install_problem_handlers: the first renderer that answers, answers."""
    app.state.problem_renderers.append(renderer)


def install_problem_handlers(app: FastAPI) -> None:
    renderers: list[ProblemRenderer] = []
    app.state.problem_renderers = renderers

    def answer(request: Request, problem: RenderedProblem) -> Response:
        for renderer in renderers:
            if (response := renderer(request, problem)) is not None:
                return response
        return respond(problem)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        return answer(request, render(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        issues = validation_issues(list(exc.errors()))
        return answer(request, RenderedProblem(422, SEE_ERRORS, VALIDATION_ERROR, issues))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        headers = dict(exc.headers) if exc.headers else None
        return answer(request, RenderedProblem(exc.status_code, detail, headers=headers))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log_failure(log, "unhandled error", exc)
        # Starlette answers this from outside every middleware, SafeHeaders (core/edge.py)
        # included, so the 500 carries its headers itself. A fixed sentence: the exception's
        # text can quote row values.
        detail = "An unexpected error occurred; it has been logged."
        return answer(request, RenderedProblem(500, detail, headers=SAFE_HEADERS | NO_STORE))


# What every response carries (core/edge.py, SafeHeaders), and every /v1 response NO_STORE.
SAFE_HEADERS = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}
NO_STORE = {"cache-control": "no-store"}


PROBLEM_DETAILS_REF = "#/components/schemas/ProblemDetails"


def problem_response_doc(status: int, description: str | None = None) -> dict[str, Any]:
    """An error response as the OpenAPI document declares it: ProblemDetails under the media
    type the handlers above really send. Not `model=ProblemDetails`, which FastAPI would put
    under application/json; app/api/openapi.py adds the component itself."""
    return {
        "description": description or HTTPStatus(status).phrase,
        "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_DETAILS_REF}}},
    }


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI declarations so clients (and schemathesis) know every error shape."""
    return {s: problem_response_doc(s) for s in statuses}
