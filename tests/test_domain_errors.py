"""The domain's named errors (app/core/domain_errors.py) and the one table that answers them
(app/core/errors.py PROBLEM_KINDS): each kind's status, type, detail, headers and errors as a
client reads them, and no kind without its row. No database: the HTTP tests (test_validation,
test_auth, test_throttling, test_fhir_base, ...) show the same answers reach the wire."""

import inspect
import json
from typing import Any

import pytest
from starlette.requests import Request

import app.core.domain_errors as domain_errors
import app.main  # noqa: F401  (every module loaded: their subclasses of DomainError too)
from app.core.domain_errors import (
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
    changes_of,
)
from app.core.errors import (
    PROBLEM_KINDS,
    RenderedProblem,
    kind_of,
    render,
    respond,
)
from app.core.keyring import KeyNotHere
from app.fhir.common import outcome_for_fhir_paths
from app.patients.schemas import PatientUpdate

pytestmark = pytest.mark.unit

BASE = "https://aftercare.example/problems/"
SEE_ERRORS = "The request is not valid; see errors."

# (error, status, type, detail, headers, errors): written out, not computed from the table.
CASES: list[tuple[DomainError, int, str, str, dict[str, str] | None, Any]] = [
    (NotFound("patient"), 404, "not-found", "patient not found", None, None),
    (
        InvalidField("birth_date", "birth date must not be in the future"),
        422,
        "validation-error",
        SEE_ERRORS,
        None,
        [
            {
                "loc": ["body", "birth_date"],
                "msg": "birth date must not be in the future",
                "type": "value_error",
            }
        ],
    ),
    (
        InvalidParameter("until", "until must be later than since"),
        422,
        "validation-error",
        SEE_ERRORS,
        None,
        [
            {
                "loc": ["query", "until"],
                "msg": "until must be later than since",
                "type": "value_error",
            }
        ],
    ),
    (InvalidCursor(), 400, "invalid-cursor", "the cursor is not valid", None, None),
    (AlreadyExists("an MRN taken"), 409, "conflict", "an MRN taken", None, None),
    (StateConflict("an alert resolved"), 409, "conflict", "an alert resolved", None, None),
    (LimitReached("20 endpoints"), 409, "conflict", "20 endpoints", None, None),
    (
        ReportCapReached("This report was not saved"),
        409,
        "report-cap-reached",
        "This report was not saved",
        None,
        [{"loc": ["path", "procedure_id"], "msg": "the block is full", "type": "report_cap"}],
    ),
    (
        NotAuthenticated("a bearer access token is required"),
        401,
        "unauthorized",
        "a bearer access token is required",
        {"www-authenticate": "Bearer"},
        None,
    ),
    (NotPermitted("only a clinic admin"), 403, "forbidden", "only a clinic admin", None, None),
    (
        InvalidEnrollmentCode(),
        400,
        "invalid-code",
        "the enrollment code is unknown, used or expired",
        None,
        None,
    ),
    (
        TooManyRequests(42),
        429,
        "too-many-requests",
        "too many attempts; try again in 42 seconds",
        {"retry-after": "42"},
        None,
    ),
    (
        TooManyPasswordChecks(3),
        503,
        "busy",
        "too many password checks at once; try again shortly",
        {"retry-after": "3"},
        None,
    ),
    (
        ServiceMisconfigured("signing is off"),
        503,
        "service-unavailable",
        "signing is off",
        None,
        None,
    ),
    (
        KeyNotHere("kid-1"),
        503,
        "service-unavailable",
        "signing in is unavailable: the service's key is misconfigured",
        None,
        None,
    ),
]
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    503: "Service Unavailable",
}


@pytest.mark.parametrize(
    ("error", "status", "slug", "detail", "headers", "errors"),
    CASES,
    ids=[type(case[0]).__name__ for case in CASES],
)
def test_each_error_is_answered_as_its_problem(
    error: DomainError,
    status: int,
    slug: str,
    detail: str,
    headers: dict[str, str] | None,
    errors: Any,
) -> None:
    response = respond(render(error))
    expected: dict[str, Any] = {
        "type": BASE + slug,
        "title": TITLES[status],
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        expected["errors"] = errors
    assert response.status_code == status
    assert response.media_type == "application/problem+json"
    assert json.loads(bytes(response.body)) == expected
    # Member order is part of "byte for byte": type, title, status, detail, errors.
    assert list(json.loads(bytes(response.body))) == list(expected)
    sent = {
        k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")
    }
    assert sent == (headers or {})


def test_every_error_class_is_in_the_table_above() -> None:
    """A new kind of error needs its expected answer written down here."""
    defined = {
        cls
        for _, cls in inspect.getmembers(domain_errors, inspect.isclass)
        if issubclass(cls, DomainError) and cls is not DomainError
    }
    assert defined == set(PROBLEM_KINDS)
    assert defined <= {type(case[0]) for case in CASES}


def _subclasses(cls: type[DomainError]) -> list[type[DomainError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_no_error_class_in_the_app_lacks_an_answer() -> None:
    app_classes = [c for c in _subclasses(DomainError) if c.__module__.startswith("app.")]
    assert KeyNotHere in app_classes  # the walk reaches subclasses made outside core
    unanswered = []
    for cls in app_classes:
        try:
            kind_of(cls)
        except LookupError:
            unanswered.append(cls.__qualname__)
    assert unanswered == []


def test_an_error_without_a_row_is_found_out() -> None:
    class Unanswered(DomainError):
        pass

    with pytest.raises(LookupError, match="Unanswered has no row"):
        render(Unanswered("anything"))
    with pytest.raises(LookupError):
        kind_of(DomainError)  # the base is never answered: each kind says what went wrong


def test_a_subclass_is_answered_as_its_nearest_kind() -> None:
    class PatientNotFound(NotFound):
        pass

    assert render(PatientNotFound("patient")) == RenderedProblem(404, "patient not found")


def test_a_patch_may_leave_out_a_required_field_but_not_null_it() -> None:
    assert changes_of(PatientUpdate(), required=("mrn",)) == {}
    with pytest.raises(InvalidField) as raised:
        changes_of(PatientUpdate(mrn=None), required=("mrn",))
    assert (raised.value.field, raised.value.msg) == ("mrn", "must not be null")


def _request(path: str) -> Request:
    return Request(
        {"type": "http", "method": "GET", "path": path, "headers": [], "query_string": b""}
    )


def test_on_fhir_paths_a_problem_is_an_operation_outcome() -> None:
    assert outcome_for_fhir_paths(_request("/v1/patients"), render(NotFound("patient"))) is None
    not_found = outcome_for_fhir_paths(_request("/fhir/r4/Patient/x"), render(NotFound("x")))
    assert not_found is not None
    assert (not_found.status_code, not_found.media_type) == (404, "application/fhir+json")
    assert json.loads(bytes(not_found.body)) == {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "not-found", "diagnostics": "x not found"}],
    }
    refused = outcome_for_fhir_paths(
        _request("/fhir/r4/Patient"), render(NotAuthenticated("a bearer access token is required"))
    )
    assert refused is not None
    assert refused.headers["www-authenticate"] == "Bearer"
    # A validation problem is FHIR's 400, naming only where: never the value sent.
    invalid = outcome_for_fhir_paths(
        _request("/fhir/r4/Patient"), render(InvalidParameter("_count", "must be a number"))
    )
    assert invalid is not None
    assert invalid.status_code == 400
    assert json.loads(bytes(invalid.body))["issue"][0] == {
        "severity": "error",
        "code": "invalid",
        "diagnostics": "not valid: query._count",
    }
