"""The access log: one line per request with its request id (taken from X-Request-ID when
well-formed, made otherwise, returned either way), route template, status, latency and actor;
JSON unless a person reads it on a terminal. And the real `aftercare serve`: JSON on a
non-terminal stderr, uvicorn's records in it, no uvicorn access line, no `server` header.
What must never be in a log is tested in test_phi_hygiene.py."""

import asyncio
import io
import json
import logging
import re
import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.db import Database
from app.core.logsafe import LogFormat, log_handler
from app.core.migrations import upgrade
from tests.helpers import Api, ClinicActors, insert_clinic, report_body
from tests.test_worker_processes import Processes, free_port, wait_until

ACCESS_FIELDS = {"request_id", "method", "route", "status", "duration_ms", "actor_type", "actor_id"}


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def logs_as() -> Iterator[Any]:
    """Attaches `core/logsafe.log_handler(format, stream)` to the root logger for the test."""
    attached: list[logging.Handler] = []

    def attach(log_format: LogFormat, stream: io.StringIO) -> io.StringIO:
        handler = log_handler(log_format, stream)
        logging.getLogger().addHandler(handler)
        attached.append(handler)
        return stream

    yield attach
    for handler in attached:
        logging.getLogger().removeHandler(handler)


def access_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if line["logger"] == "aftercare.access"]


@pytest.mark.anyio
async def test_one_json_line_per_request_with_id_route_status_latency_and_actor(
    api: Api, logs_as: Any
) -> None:
    stream = logs_as("json", io.StringIO())
    clinic: ClinicActors = api.world.a
    patient = clinic.patient
    path = f"/v1/patients/{patient.id}"
    given = {"x-request-id": "trace-42.a:b"}
    read = await api.client.get(path, headers={**clinic.clinician.headers, **given})
    procedure = await api.create_procedure(clinic.clinician, patient.id)
    reported = await api.post_report(patient, procedure["id"], report_body())
    malformed = {"x-request-id": "no spaces or newlines\n" + "x" * 70}
    anonymous = await api.client.get("/v1/patients?search=Someone", headers=malformed)
    assert (read.status_code, reported.status_code, anonymous.status_code) == (200, 201, 401)

    *_, staff_line, _, report_line, anonymous_line = access_lines(stream)
    assert read.headers["x-request-id"] == "trace-42.a:b"
    assert staff_line["request_id"] == "trace-42.a:b"
    assert {k: staff_line[k] for k in ACCESS_FIELDS - {"request_id", "duration_ms"}} == {
        "method": "GET",
        "route": "/v1/patients/{patient_id}",
        "status": 200,
        "actor_type": "staff",
        "actor_id": str(clinic.clinician.id),
    }
    assert set(staff_line) >= ACCESS_FIELDS and staff_line["level"] == "info"
    assert isinstance(staff_line["duration_ms"], float) and staff_line["duration_ms"] >= 0
    assert report_line["route"] == "/v1/procedures/{procedure_id}/reports"
    assert report_line["actor_type"] == "patient_device" and report_line["status"] == 201
    uuid.UUID(report_line["actor_id"])  # the device, not the patient
    assert report_line["actor_id"] != str(patient.id)
    # Made when not given or not well-formed; returned either way.
    for response, line in ((reported, report_line), (anonymous, anonymous_line)):
        assert re.fullmatch(r"[0-9a-f]{32}", line["request_id"])
        assert response.headers["x-request-id"] == line["request_id"]
    assert anonymous_line["route"] == "/v1/patients" and anonymous_line["actor_id"] is None
    assert "Someone" not in stream.getvalue() and "search" not in stream.getvalue()


@pytest.mark.anyio
async def test_readable_lines_on_a_terminal_json_otherwise_unless_told(
    api: Api, logs_as: Any
) -> None:
    streams = {
        ("auto", "terminal"): logs_as("auto", Terminal()),
        ("auto", "file"): logs_as("auto", io.StringIO()),
        ("console", "file"): logs_as("console", io.StringIO()),
        ("json", "terminal"): logs_as("json", Terminal()),
    }
    clinician = api.world.a.clinician
    response = await api.client.get("/v1/me", headers=clinician.headers)
    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    for (log_format, kind), stream in streams.items():
        (line,) = [x for x in stream.getvalue().splitlines() if request_id in x]
        if (log_format, kind) in {("auto", "file"), ("json", "terminal")}:
            assert json.loads(line)["request_id"] == request_id
        else:
            assert line.startswith(tuple("0123456789")) and " INFO " in line, line
            assert "aftercare.access  GET /v1/me 200 " in line, line


def _clinic_in(url: str) -> ClinicActors:
    async def make() -> ClinicActors:
        await upgrade(url)
        db = Database(url, pool_size=1)
        try:
            return await insert_clinic(db, datetime.now(UTC), "not-a-password-hash")
        finally:
            await db.dispose()

    return asyncio.run(make())


def test_serve_writes_json_lines_without_patient_data_or_server_header(
    backend: str, empty_database_factory: Any, tmp_path: Path, subprocess_output_dir: Path
) -> None:
    url: str = empty_database_factory(backend)
    clinic = _clinic_in(url)
    procs = Processes(tmp_path, url, subprocess_output_dir)
    port = free_port()
    server = procs.start("serve", "--no-worker", "--port", str(port))
    base = f"http://127.0.0.1:{port}"
    name, mrn, search = (f"ZedServe{k}-{uuid.uuid4().hex}" for k in ("Name", "Mrn", "Search"))

    def ready() -> bool:
        assert server.poll() is None, procs.tail(server)
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code < 500
        except httpx.TransportError:
            return False

    try:
        assert wait_until(ready, timeout=60, every=0.2), procs.tail(server)
        with httpx.Client(base_url=base, headers=clinic.clinician.headers) as client:
            body = {"mrn": mrn, "display_name": name, "timezone": "UTC", "temperature_unit": "C"}
            responses = [
                client.get("/v1/patients", params={"search": search}),
                client.post("/v1/patients", json=body),
                client.get(f"/v1/patients/{mrn}"),
            ]
    finally:
        # uvicorn stops gracefully, then re-raises the SIGTERM it caught.
        assert procs.stop(server) in (0, -signal.SIGTERM), procs.tail(server)
        procs.kill_all()
    assert [r.status_code for r in responses] == [200, 201, 422]
    assert not [r.headers for r in responses if "server" in r.headers]

    (_, log_file), *_ = procs.started
    text = log_file.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert any(
        x["logger"] == "aftercare.cli" and x["message"].startswith("aftercare serve: listening on")
        for x in lines
    )
    assert not [x for x in lines if x["logger"] == "uvicorn.access"]
    access = [x for x in lines if x["logger"] == "aftercare.access"]
    assert [(x["request_id"], x["route"], x["status"]) for x in access] == [
        (responses[0].headers["x-request-id"], "/v1/patients", 200),
        (responses[1].headers["x-request-id"], "/v1/patients", 201),
        (responses[2].headers["x-request-id"], "/v1/patients/{patient_id}", 422),
    ]
    assert [m for m in (name, mrn, search) if m in text] == []
