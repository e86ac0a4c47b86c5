"""The token endpoint's errors, as OAuth 2.0 clients expect them (RFC 6749 section 5.2):
`error` and `error_description` in application/json. The problem+json members ride along, so a
client that reads problems everywhere else reads these too. Everything else stays
problem+json, the token endpoint's throttle (429) and busy (503) refusals included."""

from http import HTTPStatus
from typing import Any, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.core.errors import NO_STORE, problem_type

ErrorCode = Literal[
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
]


class OAuthProblem(Exception):
    """Raised by the token endpoint and answered there (`response`): a protocol's error, with
    its HTTP status, not one of the domain's (app/core/domain_errors.py). The sign-in throttle
    counts each as a failed attempt."""

    def __init__(
        self,
        error: ErrorCode,
        description: str,
        *,
        status: int = 400,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(description)
        self.error = error
        self.status = status
        self.detail = description
        self.slug = error.replace("_", "-")
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {
            "error": self.error,
            "error_description": self.detail,
            "type": problem_type(self.status, self.slug),
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
        }

    def response(self) -> JSONResponse:
        headers = {**NO_STORE, "pragma": "no-cache", **(self.headers or {})}
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def invalid_client(description: str, *, basic: bool = False) -> OAuthProblem:
    # RFC 6749 5.2: a client that tried HTTP Basic is told which scheme to use.
    headers = {"WWW-Authenticate": 'Basic realm="aftercare"'} if basic else None
    return OAuthProblem("invalid_client", description, status=401, headers=headers)


class OAuthError(BaseModel):
    """RFC 6749 section 5.2, with the RFC 9457 problem members beside it."""

    error: ErrorCode
    error_description: str
    type: str
    title: str
    status: int
    detail: str = Field(description="The same text as error_description.")


def _example(error: ErrorCode, status: int, description: str) -> dict[str, Any]:
    """One whole example per status, so the documented 400 does not say 401."""
    body = OAuthProblem(error, description, status=status).body()
    return {"application/json": {"example": body}}


def oauth_error_responses() -> dict[int | str, dict[str, Any]]:
    return {
        400: {
            "model": OAuthError,
            "content": _example("invalid_grant", 400, "wrong email or password"),
            "description": "OAuth 2.0 error (RFC 6749 section 5.2): `invalid_request`, "
            "`invalid_grant` (wrong staff e-mail or password), `unsupported_grant_type` or "
            "`invalid_scope`.",
        },
        401: {
            "model": OAuthError,
            "content": _example("invalid_client", 401, "client authentication failed"),
            "description": "OAuth 2.0 `invalid_client`: no client authentication, malformed "
            "credentials, or a client that did not authenticate: unknown or revoked client, "
            "wrong secret, or a client assertion that does not verify (wrong key, unknown "
            "`kid`, wrong `aud`, expired, or a `jti` already used). The last all answer the "
            "same `client authentication failed`, so the answer tells no one whether a client "
            "exists. After HTTP Basic the response carries `WWW-Authenticate: Basic`.",
        },
    }
