"""The edge: what every request and response goes through before any route sees it.

`BodyGate` bounds request bodies and refuses an anonymous body before reading it;
`SafeHeaders` puts the headers that keep patient data out of caches and browsers on every
response. Both are pure ASGI: nothing is buffered, and a body is checked as it streams.

The gate acts on the route's first `receive()`, not when the request arrives: by then routing
has matched the route (so its limit and whether it needs a caller are known), and the refusal
is raised inside the route, where the problem handlers render it and the audit records it
like any other refusal. FastAPI reads a body before it resolves dependencies, so without
this a 200 MB anonymous body would be read in full only to be refused by the bearer
dependency afterwards.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.security.utils import get_authorization_scheme_param
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.deps import get_principal
from app.core.errors import NO_STORE, SAFE_HEADERS, problem_response_doc

# The compact form of a JWT: three base64url segments. Anything else cannot be one of our
# access tokens, so it need not be verified to be refused.
_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_MAX_TOKEN_CHARS = 4096
_SVG = b"image/svg+xml"
# The charts are self-contained: presentation attributes, in-document url(#...) references
# and installed fonts only. Nothing may load, run, or reach the page the image is opened in.
SVG_POLICY = b"default-src 'none'; style-src 'unsafe-inline'; sandbox"


class BodyTooLarge(HTTPException):
    # An HTTPException, because FastAPI re-raises those from its body reading and turns any
    # other error there into a 400; the app's handler renders it as problem+json.
    def __init__(self, limit: int) -> None:
        super().__init__(
            413, f"the request body is larger than this operation accepts ({limit} bytes)"
        )


class CallerRequired(HTTPException):
    """The bearer dependency's own 401s (app/core/deps.py), raised before the body is read."""

    def __init__(self, detail: str) -> None:
        super().__init__(401, detail, headers={"WWW-Authenticate": "Bearer"})


@dataclass(frozen=True)
class BodyPolicy:
    limit: int
    needs_caller: bool


def _needs_caller(dependant: Dependant) -> bool:
    """Whether the operation's dependencies reach the bearer dependency (CallerDep, StaffDep
    and the rest): found rather than listed, so a new operation cannot be left out."""
    return any(d.call is get_principal or _needs_caller(d) for d in dependant.dependencies)


def _bearer_problem(scope: Scope) -> str | None:
    """Why the request's Authorization header cannot hold an access token, if it cannot.
    Only the shape is checked here: the dependency verifies the token itself."""
    raw = next((v for k, v in scope["headers"] if k == b"authorization"), None)
    scheme, token = get_authorization_scheme_param(raw.decode("latin-1") if raw else None)
    if not token or scheme.lower() != "bearer":
        return "a bearer access token is required"
    if len(token) > _MAX_TOKEN_CHARS or not _JWT_SHAPE.fullmatch(token):
        return "the access token is invalid, expired or revoked"
    return None


def _declared_length(scope: Scope) -> int | None:
    raw = next((v for k, v in scope["headers"] if k == b"content-length"), None)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None  # the server refuses a malformed length before the app sees it


class BodyGate:
    """A body is read only by a route that could accept it: up to the route's limit, and,
    where the route needs a caller, only under a bearer token. Operations listed in
    `limits` (by operation id) take their own limit instead of `default_limit`."""

    def __init__(
        self, app: ASGIApp, *, default_limit: int, limits: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.default_limit = default_limit
        self.limits = dict(limits or {})
        # By id: routing puts the APIRoute as its router declared it in the scope, one object
        # for the life of the process (routes are not hashable).
        self._policies: dict[int, BodyPolicy] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = _RequestBody(self, scope, receive)
        await self.app(scope, body.receive, body.wrap_send(send))

    def policy(self, route: object) -> BodyPolicy:
        policy = self._policies.get(id(route))
        if policy is None:
            operation = getattr(route, "operation_id", None) or ""
            dependant = getattr(route, "dependant", None)
            policy = BodyPolicy(
                limit=self.limits.get(operation, self.default_limit),
                needs_caller=isinstance(dependant, Dependant) and _needs_caller(dependant),
            )
            self._policies[id(route)] = policy
        return policy


class _RequestBody:
    """One request's body as the route reads it."""

    def __init__(self, gate: BodyGate, scope: Scope, receive: Receive) -> None:
        self.gate = gate
        self.scope = scope
        self.inner = receive
        self.limit: int | None = None  # set at the first receive(), once admitted
        self.received = 0
        self.complete = False

    async def receive(self) -> Message:
        if self.limit is None:
            self.limit = self._admit()
        message = await self.inner()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.complete = not message.get("more_body", False)
            if self.received > self.limit:
                raise BodyTooLarge(self.limit)
        return message

    def _admit(self) -> int:
        policy = self.gate.policy(self.scope.get("route"))
        if policy.needs_caller and (problem := _bearer_problem(self.scope)):
            raise CallerRequired(problem)
        declared = _declared_length(self.scope)
        if declared is not None and declared > policy.limit:
            raise BodyTooLarge(policy.limit)
        return policy.limit

    def _left_unread(self) -> bool:
        if self.complete:
            return False
        if any(k == b"transfer-encoding" for k, _ in self.scope["headers"]):
            return True
        return bool(_declared_length(self.scope))

    def wrap_send(self, send: Send) -> Send:
        async def send_closing_if_unread(message: Message) -> None:
            # A body left unread (refused, or never wanted) would otherwise be received and
            # thrown away by the server to keep the connection: closing it stops the upload.
            if (
                message["type"] == "http.response.start"
                and self.scope.get("http_version") in ("1.0", "1.1")
                and self._left_unread()
            ):
                headers = [*message.get("headers", ()), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        return send_closing_if_unread


class SafeHeaders:
    """On every response: no MIME sniffing and no referrer. On every /v1 response (any of
    them may hold patient data, errors included): `Cache-Control: no-store`. On SVG: a policy
    that lets the image load and run nothing. These headers are the edge's to decide: a value
    a route set is replaced, never doubled."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        patient_data = scope["path"].startswith(("/v1/", "/fhir/"))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": _safe(message.get("headers", ()), patient_data)}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _encoded(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode(), value.encode()) for name, value in headers.items()]


_ALWAYS, _PATIENT_DATA = _encoded(SAFE_HEADERS), _encoded(SAFE_HEADERS | NO_STORE)


def _safe(headers: Any, patient_data: bool) -> list[tuple[bytes, bytes]]:
    ours = list(_PATIENT_DATA if patient_data else _ALWAYS)
    content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
    if content_type.lower().startswith(_SVG):
        ours.append((b"content-security-policy", SVG_POLICY))
    names = {name for name, _ in ours}
    return [(k, v) for k, v in headers if k.lower() not in names] + ours


def document_body_limit(document: dict[str, Any]) -> None:
    """Every operation that takes a body may answer 413 (BodyGate): declared in the OpenAPI
    document here, once, as the gate covers every operation (app/api/openapi.py calls this
    while it builds the document)."""
    for operations in document["paths"].values():
        for operation in operations.values():
            if "requestBody" in operation:
                # Python 3.11 still names 413 by RFC 7231's phrase; RFC 9110 renamed it.
                too_large = problem_response_doc(413, "Content Too Large")
                operation["responses"].setdefault("413", too_large)
