"""An EHR's view: fhirclient (SMART on FHIR's Python client, over `requests`) against the real
service listening on 127.0.0.1, with an integration client's token, on both databases. It finds
a patient by MRN, pages through their Observations by the Bundle's next links, and follows an
emergency alert's Task to the report that raised it."""

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
from fhirclient.models.observation import Observation
from fhirclient.models.patient import Patient
from fhirclient.models.questionnaireresponse import QuestionnaireResponse
from fhirclient.models.task import Task
from fhirclient.server import FHIRServer

from app.cli.serving import uvicorn_options
from tests.helpers import Api, report_body
from tests.test_integrations import client_actor

pytestmark = pytest.mark.anyio
SCOPES = [f"system/{t}.read" for t in ("Patient", "Observation", "Task", "QuestionnaireResponse")]


@asynccontextmanager
async def served(api: Api) -> AsyncIterator[str]:
    """The test's app behind a real uvicorn on a free loopback port (as tests/test_forwarded.py
    does); the FHIR base URL."""
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    # As `serve` runs it: with uvicorn's default log_config it would reconfigure logging for
    # the rest of the session (its loggers stop propagating; test_phi_hygiene then sees none).
    server = uvicorn.Server(uvicorn.Config(api.app, lifespan="off", **uvicorn_options()))
    serving = asyncio.create_task(server.serve(sockets=[listening]))
    try:
        yield f"http://127.0.0.1:{listening.getsockname()[1]}/fhir/r4"
    finally:
        server.should_exit = True
        await serving
        listening.close()


def ehr_session(base: str, token: str, identifier: str, alert_id: str) -> dict[str, Any]:
    """What the EHR does, synchronously as fhirclient works: run off the event loop."""
    server = FHIRServer(None, base_uri=base)
    server.session.headers["Authorization"] = f"Bearer {token}"
    patients = list(Patient.where({"identifier": identifier}).perform_resources_iter(server))
    search = Observation.where({"patient": patients[0].id, "_count": "5"})
    pages = list(search.perform_iter(server))
    observations = [entry.resource for page in pages for entry in page.entry or []]
    task = Task.read(alert_id, server)
    report_id = task.focus.reference.removeprefix("QuestionnaireResponse/")
    return {
        "patients": patients,
        "pages": pages,
        "observations": observations,
        "task": task,
        "response": QuestionnaireResponse.read(report_id, server),
    }


async def test_an_ehr_finds_the_patient_pages_observations_and_reads_the_alert(api: Api) -> None:
    clinic = await api.new_clinic()
    created = await api.create_patient(clinic.clinician)
    block = await api.create_procedure(clinic.clinician, created["id"])
    patient = await api.patient_actor(created)
    for minute in range(31, 37):  # each: pain, relief, temperature and one side effect
        body = report_body(recorded_at=f"2026-11-21T11:{minute}:00Z")
        assert (await api.post_report(patient, block["id"], body)).status_code == 201
    emergency = [{"kind": "breathing_difficulty", "severity": "mild"}]
    raised = await api.post_report(patient, block["id"], report_body(side_effects=emergency))
    assert raised.status_code == 201, raised.text
    alert_id = raised.json()["alerts"][0]["id"]
    ehr, _ = await client_actor(api, clinic.admin, SCOPES)
    # The MRN system the clinic's EHR knows (app/fhir/patients.py).
    read = await api.client.get(f"/fhir/r4/Patient/{created['id']}", headers=ehr.headers)
    mrn = next(i for i in read.json()["identifier"] if i["value"] == created["mrn"])
    identifier = f"{mrn['system']}|{created['mrn']}"

    async with served(api) as base:
        seen = await asyncio.to_thread(ehr_session, base, ehr.token, identifier, alert_id)

    assert [p.id for p in seen["patients"]] == [created["id"]]
    ids = [o.id for o in seen["observations"]]
    assert len(ids) == len(set(ids)) == 7 * 4
    assert len(seen["pages"]) == 6  # 28 at 5 a page, the pages cutting through reports
    assert all(o.subject.reference == f"Patient/{created['id']}" for o in seen["observations"])
    task = seen["task"]
    assert task.id == alert_id and task.for_fhir.reference == f"Patient/{created['id']}"
    response = seen["response"]
    assert response.id == raised.json()["report"]["id"]
    kinds = [
        i.item[0].answer[0].valueCoding.code for i in response.item if i.linkId == "side-effect"
    ]
    assert kinds == ["breathing_difficulty"]
    assert uuid.UUID(response.id).hex in {o.id.split("-")[0] for o in seen["observations"]}
