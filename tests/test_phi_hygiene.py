"""No log line and no audit event holds a patient's name, MRN, note text or search string.

The session-wide check in conftest.py (`phi_hygiene`) searches every log line, audit event and
subprocess output of the run for every name, MRN and note stored in the test databases. Search
strings, invalid input and path segments are stored nowhere, so these tests send unique
markers of each kind through the API and look for them in what this test logged and in the
audit trail. While they run, every logger (root, uvicorn's, SQLAlchemy's, aiosqlite's...) is at
DEBUG and its records also go through the handler `aftercare serve` writes with
(`production_log`); the main scenario is served by uvicorn with `serve`'s own options."""

import asyncio
import io
import json
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import event, func, or_, select

import app.patients.service
from app.audit.models import AuditEvent
from app.cli import uvicorn_options
from app.core.logsafe import RedactExceptionText, libraries_quiet, log_handler
from tests.helpers import Actor, Api, report_body
from tests.phi_guard import AUDIT_TEXT_COLUMNS, LogCapture

pytestmark = pytest.mark.anyio


def marker(kind: str) -> str:
    return f"Zed{kind}-{uuid.uuid4().hex}"


class Requests:
    """Sends requests and remembers their request ids, to find their audit events."""

    def __init__(self, api: Api, actor: Actor) -> None:
        self.client = api.client
        self.headers = actor.headers
        self.ids: list[str] = []

    async def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        # Our own request id: a 500 is answered outside the audit middleware, without one.
        request_id = uuid.uuid4().hex
        self.ids.append(request_id)
        headers = {**self.headers, "x-request-id": request_id}
        return await self.client.request(method, path, headers=headers, **kwargs)


async def audit_events(api: Api, request_ids: list[str]) -> list[AuditEvent]:
    async with api.db.read() as session:
        found = await session.scalars(
            select(AuditEvent).where(AuditEvent.request_id.in_(request_ids))
        )
        return list(found)


async def audit_rows_holding(api: Api, markers: list[str]) -> list[dict[str, str]]:
    """The text columns of every audit event (of any test) that holds a marker, case ignored."""
    columns = [getattr(AuditEvent, name) for name in AUDIT_TEXT_COLUMNS]
    holds = [func.lower(c).contains(m.lower(), autoescape=True) for c in columns for m in markers]
    async with api.db.read() as session:
        rows = await session.execute(select(*columns).where(or_(*holds)))
        return [{k: v for k, v in row._asdict().items() if v is not None} for row in rows]


def logged_markers(captured_logs: LogCapture, since: int, markers: list[str]) -> list[str]:
    text = captured_logs.text(since).lower()
    return [m for m in markers if m.lower() in text]


@pytest.fixture
def log_start(captured_logs: LogCapture) -> Iterator[int]:
    yield len(captured_logs.lines)


@pytest.fixture
def production_log() -> Iterator[io.StringIO]:
    """Every logger, root included, at DEBUG for the test, and every record also written as
    `aftercare serve` writes it (core/logsafe.py's JSON handler) into the stream yielded. The
    handlers already on the root logger (the session's capture) get the production handler's
    filters for the while: they stand for what a deployment would write."""
    stream = io.StringIO()
    handler = log_handler("json", stream)
    root = logging.getLogger()
    loggers = [
        root,
        *(x for x in root.manager.loggerDict.values() if isinstance(x, logging.Logger)),
    ]
    levels = {logger: logger.level for logger in loggers}
    filters: list[Any] = [RedactExceptionText(), libraries_quiet]
    others = list(root.handlers)
    for other in others:
        for log_filter in filters:
            other.addFilter(log_filter)
    root.addHandler(handler)
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    # A marker logged at DEBUG must be found: the capture works at that level.
    canary = marker("Canary")
    logging.getLogger("aftercare.test").debug("canary %s", canary)
    assert canary in stream.getvalue()
    yield stream
    root.removeHandler(handler)
    for other in others:
        for log_filter in filters:
            other.removeFilter(log_filter)
    for logger, level in levels.items():
        logger.setLevel(level)


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Each line of the stream, which must be one JSON object."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


@asynccontextmanager
async def served_by_uvicorn(api: Api) -> AsyncIterator[Api]:
    """The test's app behind a real uvicorn on 127.0.0.1, run with `aftercare serve`'s options
    (its lifespan is the test's, already running)."""
    app: FastAPI = api.app
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()  # connections wait in the backlog until uvicorn accepts them
    port = listening.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", **uvicorn_options()))
    serving = asyncio.create_task(server.serve(sockets=[listening]))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield Api(client, app, api.world, api.clock)
    finally:
        server.should_exit = True
        await serving
        listening.close()


async def test_names_mrns_notes_and_searches_stay_out_of_logs_and_audit_events(
    api: Api,
    captured_logs: LogCapture,
    log_start: int,
    production_log: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with served_by_uvicorn(api) as served:
        markers = await _names_mrns_notes_and_searches(
            served, captured_logs, log_start, monkeypatch
        )
    logged = production_log.getvalue()
    assert "simulated defect" not in logged
    lines = json_lines(production_log)
    # uvicorn's own record of the 500, redacted like everything else.
    assert [x["message"] for x in lines if x["logger"] == "uvicorn.error" and x["level"] == "error"]
    assert not [x for x in lines if x["logger"] == "uvicorn.access"]
    assert any(x["logger"].startswith("sqlalchemy.engine") for x in lines), "no SQL was logged"
    assert [m for m in markers if m.lower() in logged.lower()] == []


async def _names_mrns_notes_and_searches(
    api: Api, captured_logs: LogCapture, log_start: int, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """Requests carrying a marker of each kind; asserts none is in the session's capture or
    the audit trail, and returns them."""
    clinic = await api.new_clinic()
    staff = Requests(api, clinic.clinician)
    name, mrn = marker("Name"), marker("Mrn")
    procedure_note, report_note = marker("ProcNote"), marker("ReportNote")
    ack_note, resolution_note = marker("AckNote"), marker("ResolveNote")
    search, invalid_mrn, invalid_note = marker("Search"), marker("BadMrn"), marker("BadNote")
    crash_name, duplicate_name = marker("CrashName"), marker("DuplicateName")
    markers = [name, mrn, procedure_note, report_note, ack_note, resolution_note, search]
    markers += [invalid_mrn, invalid_note, crash_name, duplicate_name]

    created = await staff.send(
        "POST",
        "/v1/patients",
        json={
            "mrn": mrn,
            "display_name": name,
            "timezone": "Europe/Berlin",
            "temperature_unit": "C",
        },
    )
    assert created.status_code == 201, created.text
    patient = created.json()
    same_mrn = {
        "mrn": mrn,
        "display_name": duplicate_name,
        "timezone": "UTC",
        "temperature_unit": "C",
    }
    duplicate = await staff.send("POST", "/v1/patients", json=same_mrn)
    assert duplicate.status_code == 409, duplicate.text
    assert mrn not in duplicate.text and duplicate_name not in duplicate.text
    procedure = await api.create_procedure(clinic.clinician, patient["id"], notes=procedure_note)
    patient_app = Requests(api, await api.patient_actor(patient))
    report = await patient_app.send(
        "POST",
        f"/v1/procedures/{procedure['id']}/reports",
        json=report_body(
            notes=report_note, side_effects=[{"kind": "breathing_difficulty", "severity": "mild"}]
        ),
    )
    assert report.status_code == 201, report.text
    (alert,) = report.json()["alerts"]
    acknowledged = await staff.send(
        "POST", f"/v1/alerts/{alert['id']}/acknowledge", json={"note": ack_note}
    )
    assert acknowledged.status_code == 200, acknowledged.text
    resolved = await staff.send(
        "POST", f"/v1/alerts/{alert['id']}/resolve", json={"note": resolution_note}
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["resolution_note"] == resolution_note

    searches = {}
    for needle in (search, name, mrn):
        found = await staff.send("GET", "/v1/patients", params={"search": needle})
        assert found.status_code == 200, found.text
        searches[staff.ids[-1]] = needle
        assert [p["id"] for p in found.json()["items"]] == (
            [] if needle == search else [patient["id"]]
        )

    # The same patient found through FHIR, by MRN and by a made-up one, and read whole.
    for identifier in (f"|{mrn}", mrn, f"|{search}"):
        fhir = await staff.send("GET", "/fhir/r4/Patient", params={"identifier": identifier})
        assert fhir.status_code == 200, fhir.text
    fhir_read = await staff.send("GET", f"/fhir/r4/Patient/{patient['id']}")
    assert fhir_read.status_code == 200 and name in fhir_read.text

    # Invalid input is neither echoed back nor logged.
    invalid = await staff.send(
        "POST",
        "/v1/patients",
        json={"mrn": invalid_mrn, "display_name": 5, "timezone": invalid_mrn},
    )
    assert invalid.status_code == 422
    invalid_report = await patient_app.send(
        "POST",
        f"/v1/procedures/{procedure['id']}/reports",
        json=report_body(notes=invalid_note, pain_score=11),
    )
    assert invalid_report.status_code == 422
    for response in (invalid, invalid_report):
        assert invalid_mrn not in response.text and invalid_note not in response.text

    # An unexpected error while the body holds a name: the 500 is logged with its traceback,
    # which must not carry the request's data.
    async def defect(*_: object, **__: object) -> None:
        raise RuntimeError("simulated defect")

    monkeypatch.setattr(app.patients.service, "create_patient", defect)
    crashed = await staff.send(
        "POST",
        "/v1/patients",
        json={
            "mrn": marker("CrashMrn"),
            "display_name": crash_name,
            "timezone": "Europe/Berlin",
            "temperature_unit": "C",
        },
    )
    assert crashed.status_code == 500
    assert crash_name not in crashed.text
    # Answered outside every middleware, it carries the safe headers itself.
    assert crashed.headers["cache-control"] == "no-store"
    assert crashed.headers["x-content-type-options"] == "nosniff"
    monkeypatch.undo()

    logged = captured_logs.text(log_start)
    # The 500 is logged by type and place only: an exception's words may quote the request.
    assert "unhandled error: RuntimeError at defect" in logged, "the 500 was not logged"
    assert "simulated defect" not in logged
    assert logged.count("aftercare.access POST /v1/patients ") == 4, logged  # INFO captured
    assert logged_markers(captured_logs, log_start, markers) == []

    events = await audit_events(api, staff.ids + patient_app.ids)
    assert len(events) == len(staff.ids + patient_app.ids)
    for event_row in events:
        if event_row.request_id in searches:
            assert event_row.route == "/v1/patients"
            assert event_row.action == "patient.list" and event_row.method == "GET"
    text_columns = [
        getattr(e, c) for e in events for c in AUDIT_TEXT_COLUMNS if getattr(e, c) is not None
    ]
    # No query string anywhere (an action may be named "fhir.patient.search": not a query).
    assert not [v for v in text_columns if "?" in v or "search=" in v or "identifier=" in v]
    held = await audit_rows_holding(api, markers)
    assert held == [], str(held)
    return markers


async def test_a_name_or_mrn_in_the_path_stays_out_of_the_audit_events(
    api: Api, captured_logs: LogCapture, log_start: int, production_log: io.StringIO
) -> None:
    clinic = await api.new_clinic()
    staff = Requests(api, clinic.clinician)
    in_path = marker("PathMrn")
    response = await staff.send("GET", f"/v1/patients/{in_path}")
    assert response.status_code == 422
    assert in_path not in response.text
    assert logged_markers(captured_logs, log_start, [in_path]) == []
    assert in_path not in production_log.getvalue()
    held = await audit_rows_holding(api, [in_path])
    assert held == [], str(held)


@pytest.fixture
def null_received_at_for(api: Api) -> Iterator[list[str]]:
    """A defect in the report writer, simulated: a report whose notes are in the list is
    inserted with a NULL received_at, which the database refuses."""
    notes: list[str] = []
    engine = api.db.engine.sync_engine

    def nulls(
        _: Any, __: Any, statement: str, parameters: Any, context: Any, ___: bool
    ) -> tuple[str, Any]:
        # On PostgreSQL the report's insert opens the statement that also writes its
        # check-in and audit event (app/reports/statements.py storing_statement).
        if "INSERT INTO REPORTS " not in statement.upper():
            return statement, parameters
        if isinstance(parameters, dict):
            if parameters.get("notes") in notes:
                parameters = {**parameters, "received_at": None}
        else:
            names = list(context.compiled.positiontup)
            if parameters[names.index("notes")] in notes:
                parameters = list(parameters)
                parameters[names.index("received_at")] = None
                parameters = tuple(parameters)
        return statement, parameters

    event.listen(engine, "before_cursor_execute", nulls, retval=True)
    yield notes
    event.remove(engine, "before_cursor_execute", nulls)


async def test_a_database_error_does_not_log_the_row(
    api: Api,
    backend: str,
    captured_logs: LogCapture,
    log_start: int,
    null_received_at_for: list[str],
    production_log: io.StringIO,
) -> None:
    patient, procedure = await api.patient_with_procedure(await api.new_clinic())
    note = marker("DbErrorNote")
    null_received_at_for.append(note)
    response = await api.post_report(patient, procedure["id"], report_body(notes=note))
    assert response.status_code == 500
    logged = captured_logs.text(log_start)
    assert "unhandled error" in logged and "received_at" in logged
    assert logged_markers(captured_logs, log_start, [note]) == []
    (failure,) = [x for x in json_lines(production_log) if x["message"].startswith("unhandled")]
    access = [x for x in json_lines(production_log) if x["logger"] == "aftercare.access"]
    # The failure and the request's access line share its request id.
    assert failure["request_id"] == access[-1]["request_id"] and access[-1]["status"] == 500
    assert note not in production_log.getvalue()
