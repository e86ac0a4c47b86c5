"""Bounded request bodies (app/core/edge.py, BodyGate): a body past its operation's limit is
a 413 problem+json, refused before reading when its length is declared and at the limit when
it streams; an anonymous body to an operation that needs a caller is a 401 before any of it
is read. Each refusal stores nothing, is audited like any other, and closes the connection
so the rest of the upload is never received."""

import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from tests.helpers import Api, report_body
from tests.problems import assert_problem

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024
LIMIT = MiB  # Settings.max_body_bytes
BATCH_LIMIT = 8 * MiB  # Settings.max_batch_body_bytes
CHUNK = 64 * 1024
REPORT_ROUTE = "/v1/procedures/{procedure_id}/reports"
# The shape of an access token, signed by nobody.
FORGED = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


class Upload:
    """A body of `size` bytes sent in chunks, counting how many of them the server pulled."""

    def __init__(self, size: int, *, declared: bool) -> None:
        self.size = size
        self.pulled = 0
        # Declared: Content-Length; otherwise httpx sends it chunked, its length unknown.
        self.headers = {"Content-Length": str(size)} if declared else {}

    async def __aiter__(self) -> AsyncIterator[bytes]:
        sent = 0
        while sent < self.size:
            chunk = b" " * min(CHUNK, self.size - sent)
            self.pulled += len(chunk)
            sent += len(chunk)
            yield chunk


def padded(body: dict[str, Any], size: int) -> bytes:
    """Valid JSON of exactly `size` bytes: only its size can be wrong with it."""
    text = json.dumps(body).encode()
    return text + b" " * (size - len(text))


def assert_closed_problem(response: httpx.Response, status: int) -> None:
    """A refused body may still be on its way: the server answers and closes the connection."""
    assert_problem(response, status)
    assert response.headers["connection"] == "close"


async def audited(api: Api, request_id: str) -> list[tuple[str, str | None, int, str]]:
    async with api.db.read() as session:
        events = await session.scalars(
            select(AuditEvent).where(AuditEvent.request_id == request_id)
        )
        return [(e.action, e.route, e.status, e.actor_type) for e in events]


async def test_a_report_past_the_limit_is_413_and_nothing_is_stored(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    url = f"/v1/procedures/{procedure['id']}/reports"
    body = report_body()
    request_id = uuid.uuid4().hex
    headers = {**patient.headers, "Content-Type": "application/json"}

    refused = await api.client.post(
        url, content=padded(body, LIMIT + 1), headers={**headers, "X-Request-ID": request_id}
    )

    assert_closed_problem(refused, 413)
    assert str(LIMIT) in refused.json()["detail"]
    # Refused before the token was verified: the caller is not known yet.
    assert await audited(api, request_id) == [("report.create", REPORT_ROUTE, 413, "anonymous")]
    # The same report at the limit is its first: nothing was stored, nothing is replayed.
    stored = await api.client.post(url, content=padded(body, LIMIT), headers=headers)
    assert stored.status_code == 201, stored.text
    assert "connection" not in stored.headers  # a body read in full keeps the connection


async def test_a_streamed_body_is_read_only_up_to_the_limit(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    upload = Upload(20 * MiB, declared=False)

    refused = await api.client.post(
        f"/v1/procedures/{procedure['id']}/reports", content=upload, headers=patient.headers
    )

    assert_closed_problem(refused, 413)
    assert LIMIT < upload.pulled <= LIMIT + CHUNK


async def test_a_declared_length_past_the_limit_is_refused_before_reading(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    upload = Upload(2 * MiB, declared=True)

    refused = await api.client.post(
        f"/v1/procedures/{procedure['id']}/reports",
        content=upload,
        headers={**patient.headers, **upload.headers},
    )

    assert_closed_problem(refused, 413)
    assert upload.pulled == 0


async def test_the_batch_route_takes_the_batch_limit(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    url = f"/v1/procedures/{procedure['id']}/reports/batch"
    report = report_body()
    headers = {**patient.headers, "Content-Type": "application/json"}

    accepted = await api.client.post(
        url, content=padded({"reports": [report]}, 2 * MiB), headers=headers
    )
    assert accepted.status_code == 200, accepted.text
    assert [r["status"] for r in accepted.json()["results"]] == ["created"]

    for upload in (Upload(BATCH_LIMIT + 1, declared=True), Upload(12 * MiB, declared=False)):
        refused = await api.client.post(url, content=upload, headers={**headers, **upload.headers})
        assert_closed_problem(refused, 413)
        assert str(BATCH_LIMIT) in refused.json()["detail"]
        assert upload.pulled <= BATCH_LIMIT + CHUNK


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "streamed"])
@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, "a bearer access token is required"),
        ("Basic YWRtaW46YWRtaW4=", "a bearer access token is required"),
        ("Bearer not-a-token", "the access token is invalid, expired or revoked"),
    ],
    ids=["none", "basic", "malformed"],
)
async def test_an_anonymous_body_is_401_before_any_of_it_is_read(
    api: Api, declared: bool, authorization: str | None, detail: str
) -> None:
    _, procedure = await api.patient_with_procedure(api.world.a)
    upload = Upload(2 * 1000 * 1000, declared=declared)
    request_id = uuid.uuid4().hex
    headers = {**upload.headers, "X-Request-ID": request_id}
    if authorization:
        headers["Authorization"] = authorization

    refused = await api.client.post(
        f"/v1/procedures/{procedure['id']}/reports", content=upload, headers=headers
    )

    assert_closed_problem(refused, 401)
    assert refused.json()["detail"] == detail
    assert refused.headers["www-authenticate"] == "Bearer"
    assert upload.pulled == 0
    assert [e[1:] for e in await audited(api, request_id)] == [(REPORT_ROUTE, 401, "anonymous")]


async def test_a_token_of_the_right_shape_is_verified_by_the_route(api: Api) -> None:
    """The edge checks only a token's shape; a forged one gets at most the limit read, then
    the route's own verification refuses it."""
    _, procedure = await api.patient_with_procedure(api.world.a)
    url = f"/v1/procedures/{procedure['id']}/reports"
    forged = {"Authorization": f"Bearer {FORGED}"}

    small = await api.client.post(url, json=report_body(), headers=forged)
    assert small.status_code == 401, small.text
    assert small.json()["detail"] == "the access token is invalid, expired or revoked"

    upload = Upload(20 * MiB, declared=False)
    large = await api.client.post(url, content=upload, headers=forged)
    assert_closed_problem(large, 413)
    assert upload.pulled <= LIMIT + CHUNK


async def test_every_operation_with_a_body_is_gated(api: Api) -> None:
    """Over the app's own OpenAPI document: an anonymous streamed 2 MB body is a 401 before
    any of it is read wherever the operation needs a caller (it declares bearer security),
    and a 413 at the limit where it does not (sign-in, enrolment, refresh)."""
    wrong: list[str] = []
    open_operations = []
    for path, operations in api.app.openapi()["paths"].items():
        for method, operation in operations.items():
            if "requestBody" not in operation:
                continue
            url = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)
            content_type = next(iter(operation["requestBody"]["content"]))
            upload = Upload(2 * MiB, declared=False)
            answer = await api.client.request(
                method, url, content=upload, headers={"Content-Type": content_type}
            )
            needs_caller = bool(operation.get("security"))
            if not needs_caller:
                open_operations.append(path)
            read_ok = upload.pulled == 0 if needs_caller else upload.pulled <= LIMIT + CHUNK
            if answer.status_code != (401 if needs_caller else 413) or not read_ok:
                wrong.append(f"{method} {path}: {answer.status_code}, read {upload.pulled}")
    assert not wrong, wrong
    assert sorted(open_operations) == ["/v1/auth/enroll", "/v1/auth/refresh", "/v1/auth/token"]


async def test_a_declared_length_to_an_open_operation_is_refused_before_reading(api: Api) -> None:
    login = Upload(2 * MiB, declared=True)
    refused = await api.client.post(
        "/v1/auth/token",
        content=login,
        headers={**login.headers, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_closed_problem(refused, 413)
    assert login.pulled == 0
