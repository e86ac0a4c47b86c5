"""The one check that a response is an RFC 9457 problem (tests use it instead of their own)."""

from collections.abc import Collection
from typing import Any

import httpx

PROBLEM_JSON = "application/problem+json"


def assert_problem(
    response: httpx.Response,
    status: int | Collection[int],
    field: str | None = None,
    *,
    no_echo: str | None = None,
) -> dict[str, Any]:
    """A problem+json of the expected status with its members filled in; returns the body.

    A 401 names the bearer scheme; a 422 lists its issues, one of which points at `field` when
    given. `no_echo` is text the request carried that the answer must not repeat (patient text
    in an error would reach the client's logs)."""
    allowed = {status} if isinstance(status, int) else status
    assert response.status_code in allowed, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body = response.json()
    assert isinstance(body, dict), body
    for key in ("type", "title", "detail"):
        assert isinstance(body.get(key), str) and body[key], body
    assert body.get("status") == response.status_code, body
    if response.status_code == 401:
        assert "bearer" in response.headers.get("www-authenticate", "").lower(), response.headers
    if response.status_code == 422:
        assert_issues(body.get("errors"), field)
    if no_echo is not None:
        assert no_echo not in response.text, "the error echoes the client's input"
    return body


def assert_issues(errors: object, field: str | None = None) -> None:
    """A 422's `errors`: each issue says where and what, and never echoes the input back."""
    assert isinstance(errors, list) and errors, errors
    for issue in errors:
        assert isinstance(issue, dict) and set(issue) == {"loc", "msg", "type"}, issue
        assert isinstance(issue["loc"], list), issue
        assert isinstance(issue["msg"], str) and issue["msg"], issue
        assert isinstance(issue["type"], str) and issue["type"], issue
    if field is not None:
        locs = [[str(part) for part in issue["loc"]] for issue in errors]
        assert any(field in loc for loc in locs), f"no error points at {field!r}: {errors}"
