"""The harness's own checks: `assert_problem` refuses what is not a proper problem, and the
`unit` marker's guard spots a database-free test that is not."""

from typing import Any

import httpx
import pytest

from tests.conftest import services_used
from tests.problems import assert_problem

pytestmark = pytest.mark.unit

PROBLEM = {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "No such thing."}
ISSUE = {"loc": ["body", "pain_score"], "msg": "must be at most 10", "type": "less_than_equal"}


def answer(
    status: int,
    body: dict[str, Any],
    content_type: str = "application/problem+json",
    **headers: str,
) -> httpx.Response:
    return httpx.Response(status, json=body, headers={"content-type": content_type, **headers})


def invalid(**changes: Any) -> httpx.Response:
    return answer(422, {**PROBLEM, "status": 422, "errors": [ISSUE], **changes})


def test_a_proper_problem_passes_and_its_body_comes_back() -> None:
    assert assert_problem(answer(404, PROBLEM), 404) == PROBLEM
    assert assert_problem(answer(404, PROBLEM), {400, 404})["detail"] == "No such thing."
    unauthorised = answer(401, {**PROBLEM, "status": 401}, **{"www-authenticate": "Bearer"})
    assert assert_problem(unauthorised, 401)["status"] == 401
    assert assert_problem(invalid(), 422, "pain_score", no_echo="Alex Doe")["errors"] == [ISSUE]


@pytest.mark.parametrize(
    ("response", "status", "field", "no_echo"),
    [
        pytest.param(answer(404, PROBLEM), 403, None, None, id="another-status"),
        pytest.param(answer(404, PROBLEM, "application/json"), 404, None, None, id="plain-json"),
        pytest.param(answer(404, {**PROBLEM, "detail": ""}), 404, None, None, id="empty-detail"),
        pytest.param(answer(404, {**PROBLEM, "status": 400}), 404, None, None, id="status-differs"),
        pytest.param(answer(401, {**PROBLEM, "status": 401}), 401, None, None, id="401-no-scheme"),
        pytest.param(invalid(errors=[]), 422, None, None, id="422-without-issues"),
        pytest.param(invalid(errors=[{**ISSUE, "input": 11}]), 422, None, None, id="422-echo"),
        pytest.param(invalid(), 422, "recorded_at", None, id="422-other-field"),
        pytest.param(invalid(detail="Alex Doe is wrong"), 422, None, "Alex Doe", id="echoed"),
    ],
)
def test_anything_less_fails(
    response: httpx.Response, status: int, field: str | None, no_echo: str | None
) -> None:
    with pytest.raises(AssertionError):
        assert_problem(response, status, field, no_echo=no_echo)


def test_the_unit_guard_names_what_needs_a_database_or_a_server() -> None:
    # Every test's set-up holds `empty_database_factory` (the PHI check's); asking counts.
    assert services_used(["tmp_path", "empty_database_factory", "phi_hygiene"], []) == set()
    assert services_used(["empty_database_factory"], ["empty_database_factory"]) == {
        "empty_database_factory"
    }
    assert services_used(["api", "settings", "database_url", "backend"], ["api"]) == {
        "api",
        "settings",
        "database_url",
        "backend",
    }
    assert services_used(["receiver"], ["receiver"]) == {"receiver"}
