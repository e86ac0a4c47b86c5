"""The one check that a response is an RFC 9457 problem (tests use it instead of their own)."""

from typing import Any

import httpx

PROBLEM_JSON = "application/problem+json"


def assert_problem(response: httpx.Response, status: int | set[int]) -> dict[str, Any]:
    """A problem+json of the expected status with its members filled in; returns the body."""
    allowed = {status} if isinstance(status, int) else status
    assert response.status_code in allowed, (response.status_code, response.text)
    assert response.headers["content-type"].startswith(PROBLEM_JSON), response.headers
    body = response.json()
    assert isinstance(body, dict), body
    for key in ("type", "title", "detail"):
        assert isinstance(body.get(key), str) and body[key], body
    assert body.get("status") == response.status_code, body
    if response.status_code == 401:
        assert "bearer" in response.headers.get("www-authenticate", "").lower()
    return body
