"""The FHIR API's frame (app/fhir/common.py, capability.py): the CapabilityStatement and SMART
configuration, who may call (401/403 OperationOutcomes, integration clients' scopes), _count
and _cursor, unsupported parameters, and the audit of FHIR reads."""

import uuid
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhirclient.models.capabilitystatement import CapabilityStatement as FCCapability
from fhirclient.models.operationoutcome import OperationOutcome as FCOutcome
from sqlalchemy import select

import app.fhir.router
from app.audit.models import AuditEvent, AuditEventPatient
from app.fhir.common import FHIR_JSON, MAX_COUNT
from tests.helpers import Api, report_body
from tests.test_integrations import CLIENTS, client_actor, new_client, token_for

pytestmark = pytest.mark.anyio
BASE = "/fhir/r4"


def outcome(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == FHIR_JSON
    body: dict[str, Any] = response.json()
    OperationOutcome.model_validate(body)
    FCOutcome(body, strict=True)
    assert body["issue"][0]["code"] == code
    return body


async def test_capability_statement_and_smart_configuration(api: Api) -> None:
    response = await api.client.get(f"{BASE}/metadata")  # public: no token
    assert response.status_code == 200
    assert response.headers["content-type"] == FHIR_JSON
    statement = response.json()
    CapabilityStatement.model_validate(statement)
    FCCapability(statement, strict=True)
    assert (statement["fhirVersion"], statement["kind"], statement["format"]) == (
        "4.0.1",
        "instance",
        ["json"],
    )
    rest = statement["rest"][0]
    params = {
        r["type"]: sorted(p["name"] for p in r.get("searchParam", [])) for r in rest["resource"]
    }
    assert params == {
        "Patient": ["_id", "identifier"],
        "Procedure": ["patient"],
        "Task": ["patient", "priority", "status"],
        "Questionnaire": ["url"],
        "QuestionnaireResponse": ["authored", "part-of", "patient"],
        "Observation": ["code", "date", "patient"],
        "Group": [],
    }
    token = rest["security"]["extension"][0]["extension"][0]["valueUri"]
    assert token == "http://aftercare.test/v1/auth/token"
    smart = (await api.client.get(f"{BASE}/.well-known/smart-configuration")).json()
    assert smart["token_endpoint"] == token
    assert smart["grant_types_supported"] == ["client_credentials"]
    assert "system/*.read" in smart["scopes_supported"]
    assert "/fhir/r4/metadata" not in (await api.client.get("/openapi.json")).text


async def test_who_may_call(api: Api) -> None:
    clinic = await api.new_clinic()
    url = f"{BASE}/Patient/{clinic.patient.id}"
    missing = await api.client.get(url)
    outcome(missing, 401, "login")
    assert missing.headers["www-authenticate"] == "Bearer"
    outcome(await api.client.get(url, headers={"Authorization": "Bearer nope"}), 401, "login")
    outcome(await api.client.get(url, headers=clinic.patient.headers), 403, "forbidden")
    assert (await api.client.get(url, headers=clinic.clinician.headers)).status_code == 200
    assert (await api.client.get(url, headers=clinic.admin.headers)).status_code == 200
    # Errors outside the routes are outcomes too: an unknown path, a malformed id.
    outcome(await api.client.get(f"{BASE}/Nothing", headers=clinic.admin.headers), 404, "not-found")
    outcome(
        await api.client.get(f"{BASE}/Patient/x", headers=clinic.admin.headers), 404, "not-found"
    )


@pytest.mark.parametrize(
    ("op_url", "scope"),
    [
        ("Patient/{patient}", "system/Patient.read"),
        ("Patient?_id={patient}", "system/Patient.read"),
        ("Procedure/{procedure}", "system/Procedure.read"),
        ("Procedure?patient={patient}", "system/Procedure.read"),
        ("Task/{task}", "system/Task.read"),
        ("Task?patient=Patient/{patient}", "system/Task.read"),
    ],
)
async def test_integration_client_scopes(api: Api, op_url: str, scope: str) -> None:
    clinic, elsewhere = await api.new_clinic(), await api.new_clinic()
    patient, procedure = await api.patient_with_procedure(clinic)
    breathing = [{"kind": "breathing_difficulty", "severity": "mild"}]
    report = await api.post_report(patient, procedure["id"], report_body(side_effects=breathing))
    task = report.json()["alerts"][0]["id"]
    url = f"{BASE}/" + op_url.format(patient=patient.id, procedure=procedure["id"], task=task)
    allowed, _ = await client_actor(api, clinic.admin, [scope])
    wildcard, _ = await client_actor(api, clinic.admin, ["system/*.read"])
    without, _ = await client_actor(api, clinic.admin, ["patients:read", "alerts:read"])
    theirs, _ = await client_actor(api, elsewhere.admin, ["system/*.read"])
    for actor in (allowed, wildcard):
        response = await api.client.get(url, headers=actor.headers)
        assert response.status_code == 200, response.text
        if "?" in url:
            assert response.json()["entry"], response.text
    outcome(await api.client.get(url, headers=without.headers), 403, "forbidden")
    other = await api.client.get(url, headers=theirs.headers)
    if "?" in url:  # a search in their own clinic: nothing of this one
        assert other.status_code == 200 and other.json()["entry"] == []
    else:
        outcome(other, 404, "not-found")
    revoked = await new_client(api, clinic.admin, [scope])
    bearer = (await token_for(api, revoked)).json()["access_token"]
    gone = await api.client.delete(
        f"{CLIENTS}/{revoked['client_id']}", headers=clinic.admin.headers
    )
    assert gone.status_code == 204
    revoked_call = await api.client.get(url, headers={"Authorization": f"Bearer {bearer}"})
    outcome(revoked_call, 401, "login")


async def test_paging_count_and_parameters(api: Api) -> None:
    clinic = await api.new_clinic()
    for _ in range(3):
        await api.create_patient(clinic.clinician)
    headers = clinic.clinician.headers
    seen: list[str] = []
    url: str | None = f"{BASE}/Patient?_count=2"
    while url:
        page = (await api.client.get(url, headers=headers)).json()
        Bundle.model_validate(page)
        assert page["type"] == "searchset" and len(page["entry"]) <= 2
        seen += [e["resource"]["id"] for e in page["entry"]]
        assert all(e["search"]["mode"] == "match" for e in page["entry"])
        links = {link["relation"]: link["url"] for link in page["link"]}
        assert links["self"].startswith("http://aftercare.test/fhir/r4/Patient?")
        url = links.get("next")
    assert len(seen) == len(set(seen)) == 5  # the two the clinic came with, and three
    capped = (await api.client.get(f"{BASE}/Patient?_count=100000", headers=headers)).json()
    assert len(capped["entry"]) == 5 <= MAX_COUNT
    for bad in (
        "_count=0",
        "_count=-1",
        "_count=two",
        "_cursor=%%%",
        "_cursor=WyJ4Il0",
        "name=Alex",
        "identifier=a&identifier=b",
        "_format=xml",
    ):
        response = await api.client.get(f"{BASE}/Patient?{bad}", headers=headers)
        assert response.status_code in (400, 406), (bad, response.text)
        outcome(response, response.status_code, response.json()["issue"][0]["code"])


async def test_fhir_reads_are_audited(api: Api) -> None:
    clinic = await api.new_clinic()
    patient_id = clinic.patient.id
    read = await api.client.get(f"{BASE}/Patient/{patient_id}", headers=clinic.admin.headers)
    search = await api.client.get(f"{BASE}/Patient", headers=clinic.admin.headers)
    refused = await api.client.get(f"{BASE}/Patient/{uuid.uuid4()}", headers=clinic.admin.headers)
    expected = [
        (read, "fhir.patient.read", 200, {patient_id}),
        (search, "fhir.patient.search", 200, {patient_id, clinic.other_patient.id}),
        (refused, "fhir.patient.read", 404, set()),
    ]
    async with api.db.read() as session:
        for response, action, status, patients in expected:
            event = await session.scalar(
                select(AuditEvent).where(AuditEvent.request_id == response.headers["x-request-id"])
            )
            assert event is not None
            assert (event.action, event.status, event.actor_id) == (
                action,
                status,
                clinic.admin.id,
            )
            named = await session.scalars(
                select(AuditEventPatient.patient_id).where(AuditEventPatient.event_id == event.id)
            )
            assert set(named) == patients


async def test_an_unexpected_error_is_an_operation_outcome(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    clinic = await api.new_clinic()
    made = await api.create_patient(clinic.clinician)

    def defect(*_: object, **__: object) -> None:
        raise RuntimeError("simulated defect naming a patient")

    monkeypatch.setattr(app.fhir.router, "patient_resource", defect)
    response = await api.client.get(
        f"{BASE}/Patient/{made['id']}", headers=clinic.clinician.headers
    )
    body = outcome(response, 500, "exception")
    assert body["issue"][0]["diagnostics"] == "An unexpected error occurred; it has been logged."
    assert "simulated" not in response.text
    # Answered outside every middleware, it carries the safe headers itself.
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "unhandled error: RuntimeError" in caplog.text  # logged by type, as off /fhir
    assert "simulated" not in caplog.text


async def test_every_fhir_route_serves_json_only(api: Api) -> None:
    clinic = await api.new_clinic()
    headers = clinic.clinician.headers
    made = await api.create_patient(clinic.clinician)
    for path in (
        "metadata",
        f"Patient/{made['id']}",
        "Patient",
        f"Procedure/{uuid.uuid4()}",
        "Task",
        "Questionnaire/post-block-check-in",
        f"QuestionnaireResponse/{uuid.uuid4()}",
        f"Observation?patient={made['id']}",
        f"$export-status/{uuid.uuid4()}",
    ):
        joiner = "&" if "?" in path else "?"
        response = await api.client.get(f"{BASE}/{path}{joiner}_format=xml", headers=headers)
        outcome(response, 406, "not-supported")
        if not path.startswith("$"):
            fine = await api.client.get(f"{BASE}/{path}{joiner}_format=json", headers=headers)
            assert fine.status_code in (200, 404), (path, fine.text)
    kick_off = await api.client.get(
        f"{BASE}/Patient/$export?_format=application/fhir%2Bjson",
        headers={**headers, "Prefer": "respond-async"},
    )
    assert kick_off.status_code == 202, kick_off.text


async def test_another_clinics_resource_is_the_same_404_as_a_made_up_id(api: Api) -> None:
    """As tests/test_tenancy.py asks of /v1: ids cannot be probed, for any FHIR read."""
    clinic, elsewhere = await api.new_clinic(), await api.new_clinic()
    patient, procedure = await api.patient_with_procedure(clinic)
    breathing = [{"kind": "breathing_difficulty", "severity": "mild"}]
    report = (
        await api.post_report(patient, procedure["id"], report_body(side_effects=breathing))
    ).json()
    made_up = uuid.uuid4()
    reads = {
        "Patient": (patient.id, made_up),
        "Procedure": (procedure["id"], made_up),
        "Task": (report["alerts"][0]["id"], made_up),
        "QuestionnaireResponse": (report["report"]["id"], made_up),
        "Observation": (f"{uuid.UUID(report['report']['id']).hex}-pain", f"{made_up.hex}-pain"),
    }
    for kind, (theirs, nobodys) in reads.items():
        own = await api.client.get(f"{BASE}/{kind}/{theirs}", headers=clinic.clinician.headers)
        assert own.status_code == 200, (kind, own.text)
        for actor in (elsewhere.clinician, elsewhere.admin):
            foreign = await api.client.get(f"{BASE}/{kind}/{theirs}", headers=actor.headers)
            missing = await api.client.get(f"{BASE}/{kind}/{nobodys}", headers=actor.headers)
            outcome(foreign, 404, "not-found")
            assert foreign.content == missing.content, kind
