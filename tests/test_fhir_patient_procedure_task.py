"""Patient, Procedure and Task as FHIR (app/fhir/patients.py, procedures.py, tasks.py): every
shape each can take validates with fhir.resources (R4B) and fhirclient (R4), with its codes
exact; searches filter, page and keep to the caller's clinic."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.procedure import Procedure
from fhir.resources.R4B.task import Task
from fhirclient.models.bundle import Bundle as FCBundle
from fhirclient.models.patient import Patient as FCPatient
from fhirclient.models.procedure import Procedure as FCProcedure
from fhirclient.models.task import Task as FCTask

from app.alerts.models import Alert
from app.fhir.tasks import task_resource
from tests.helpers import Actor, Api, emergency_report
from tests.test_integrations import client_actor

pytestmark = pytest.mark.anyio
BASE = "/fhir/r4"
MODELS: dict[str, tuple[Any, Any]] = {
    "Patient": (Patient, FCPatient),
    "Procedure": (Procedure, FCProcedure),
    "Task": (Task, FCTask),
}


async def fhir_get(api: Api, actor: Actor, url: str) -> dict[str, Any]:
    response = await api.client.get(f"{BASE}/{url}", headers=actor.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    if body["resourceType"] == "Bundle":
        Bundle.model_validate(body)
        FCBundle(body, strict=True)
        resources = [entry["resource"] for entry in body["entry"]]
    else:
        resources = [body]
    for resource in resources:
        ours, theirs = MODELS[resource["resourceType"]]
        ours.model_validate(resource)
        theirs(resource, strict=True)
    return body


def ids(bundle: dict[str, Any]) -> list[str]:
    return [entry["resource"]["id"] for entry in bundle["entry"]]


@pytest.mark.parametrize("birth_date", [None, "1970-04-02"])
async def test_patient(api: Api, birth_date: str | None) -> None:
    clinic = await api.new_clinic()
    staff = clinic.clinician
    made = await api.create_patient(
        staff, display_name="Dr. Ann  van der Berg", birth_date=birth_date
    )
    patient = await fhir_get(api, staff, f"Patient/{made['id']}")
    system = f"https://aftercare.example/fhir/clinic/{clinic.clinic_id}/mrn"
    assert patient["identifier"][0]["system"] == system
    assert patient["identifier"][0]["value"] == made["mrn"]
    assert patient["name"] == [{"text": "Dr. Ann  van der Berg"}]
    assert patient.get("birthDate") == birth_date
    assert patient["meta"]["lastUpdated"].endswith("Z")
    mrn = made["mrn"]
    for query, found in [
        (f"identifier={mrn}", [made["id"]]),
        (f"identifier={system}|{mrn}", [made["id"]]),
        (f"identifier=urn:other|{mrn}", []),
        (f"identifier=|{mrn}", []),
        (f"_id={made['id']},{uuid.uuid4()}", [made["id"]]),
        # An id that cannot be ours matches nothing: an empty searchset, not a 404.
        ("_id=not-a-uuid", []),
        (f"_id=not-a-uuid,{made['id']}", [made["id"]]),
    ]:
        assert ids(await fhir_get(api, staff, f"Patient?{query}")) == found, query
    # The clinic's own MRN system, once set, is the one the identifiers carry.
    changed = await api.client.patch(
        "/v1/clinic", json={"fhir_mrn_system": "urn:ehr"}, headers=clinic.admin.headers
    )
    assert changed.status_code == 200 and changed.json()["fhir_mrn_system"] == "urn:ehr"
    patient = await fhir_get(api, staff, f"Patient/{made['id']}")
    assert patient["identifier"][0]["system"] == "urn:ehr"
    assert ids(await fhir_get(api, staff, f"Patient?identifier=urn:ehr|{mrn}")) == [made["id"]]
    elsewhere = await api.new_clinic()
    response = await api.client.get(f"{BASE}/Patient/{made['id']}", headers=elsewhere.admin.headers)
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("side", "snomed", "drugs", "note"),
    [
        ("left", "7771000", {}, "Anesthetic: bupivacaine 0.25% 10 mL; Steroid: dexamethasone 4 mg"),
        ("right", "24028007", {"steroid": None}, "Anesthetic: bupivacaine 0.25% 10 mL"),
        ("bilateral", "51440002", {"steroid": None, "anesthetic": None}, None),
    ],
)
async def test_procedure(
    api: Api, side: str, snomed: str, drugs: dict[str, Any], note: str | None
) -> None:
    clinic = await api.new_clinic()
    staff = clinic.clinician
    made = await api.create_procedure(staff, clinic.patient.id, side=side, **drugs)
    procedure = await fhir_get(api, staff, f"Procedure/{made['id']}")
    assert procedure["status"] == "completed"
    assert procedure["code"]["coding"][0]["system"] == "http://www.ama-assn.org/go/cpt"
    assert procedure["code"]["coding"][0]["code"] == "64520"
    assert procedure["subject"] == {"reference": f"Patient/{clinic.patient.id}"}
    assert procedure["performedDateTime"] == "2026-11-21T11:30:00Z"
    site = procedure["bodySite"][0]
    assert site["coding"][0] == {
        "system": "http://snomed.info/sct",
        "code": snomed,
        "display": site["coding"][0]["display"],
    }
    assert site["text"].endswith("lumbar sympathetic chain, L2, L3")
    assert procedure.get("note") == ([{"text": note}] if note else None)
    for query in (f"patient={clinic.patient.id}", f"patient=Patient/{clinic.patient.id}"):
        assert ids(await fhir_get(api, staff, f"Procedure?{query}")) == [made["id"]]
    assert ids(await fhir_get(api, staff, f"Procedure?patient={clinic.other_patient.id}")) == []
    elsewhere = await api.new_clinic()
    response = await api.client.get(
        f"{BASE}/Procedure/{made['id']}", headers=elsewhere.admin.headers
    )
    assert response.status_code == 404


async def _insert_alert(api: Api, template: Alert, **values: Any) -> str:
    """An alert as the clock or another rule raises it, on the template's block."""
    now = api.clock.now()
    fields: dict[str, Any] = {
        "severity": "routine",
        "severity_rank": 2,
        "status": "open",
        **values,
    }
    alert = Alert(
        id=uuid.uuid4(),
        clinic_id=template.clinic_id,
        patient_id=template.patient_id,
        procedure_id=template.procedure_id,
        report_id=None,
        rule_id=f"missed_{uuid.uuid4().hex[:8]}",
        rule_version=1,
        rule_set_version=2,
        title="Missed check-in",
        explanation=[],
        created_at=now,
        last_triggered_at=now,
        occurrences=1,
        **fields,
    )
    async with api.db.write() as session:
        session.add(alert)
    return str(alert.id)


async def test_tasks_in_every_state(api: Api) -> None:
    clinic = await api.new_clinic()
    staff = clinic.clinician
    report = await emergency_report(api, clinic)
    raised = report["alerts"][0]["id"]
    async with api.db.read() as session:
        template = await session.get(Alert, uuid.UUID(raised))
    assert template is not None
    task = await fhir_get(api, staff, f"Task/{raised}")
    assert (task["status"], task["priority"], task["intent"]) == ("requested", "stat", "order")
    assert task["focus"] == {"reference": f"QuestionnaireResponse/{template.report_id}"}
    assert task["for"] == {"reference": f"Patient/{template.patient_id}"}
    coding = task["reasonCode"]["coding"][0]
    assert coding["system"] == "https://aftercare.example/fhir/CodeSystem/red-flag-rule"
    assert (coding["code"], coding["version"]) == (template.rule_id, str(template.rule_set_version))
    assert "note" not in task and "owner" not in task
    ack = await api.client.post(
        f"/v1/alerts/{raised}/acknowledge", json={"note": "Called"}, headers=staff.headers
    )
    assert ack.status_code == 200, ack.text
    task = await fhir_get(api, staff, f"Task/{raised}")
    assert task["status"] == "accepted"
    assert task["note"][0]["authorReference"] == {"type": "Practitioner", "display": "clinician "}
    assert task["note"][0]["text"] == "Acknowledged: Called"
    client, _ = await client_actor(api, clinic.admin, ["alerts:write", "system/Task.read"])
    resolved = await api.client.post(
        f"/v1/alerts/{raised}/resolve", json={"note": "Seen in ED"}, headers=client.headers
    )
    assert resolved.status_code == 200, resolved.text
    task = await fhir_get(api, client, f"Task/{raised}")
    assert task["status"] == "completed"
    assert task["note"][1]["authorReference"] == {"type": "Device", "display": "EHR bridge"}
    assert task["owner"] == task["note"][1]["authorReference"]
    assert task["executionPeriod"]["end"] == task["note"][1]["time"]
    # Report-less (the clock raised it), each severity, escalated.
    later = api.clock.now() + timedelta(minutes=5)
    urgent = await _insert_alert(api, template, severity="urgent", severity_rank=1)
    routine = await _insert_alert(
        api, template, escalated_at=later, acknowledged_at=later, status="acknowledged"
    )
    task = await fhir_get(api, staff, f"Task/{routine}")
    assert task["focus"] == {"reference": f"Procedure/{template.procedure_id}"}
    assert (task["priority"], task["status"]) == ("routine", "accepted")
    assert task["businessStatus"] == {"text": "escalated"}
    assert task["note"][0]["authorReference"]["display"] == "unknown"
    patient = template.patient_id
    for query, found in [
        (f"patient={patient}", {raised, urgent, routine}),
        (f"patient={patient}&status=requested", {urgent}),
        ("status=completed,accepted", {raised, routine}),
        ("priority=stat", {raised}),
        ("priority=urgent,routine&_count=1", None),
    ]:
        bundle = await fhir_get(api, staff, f"Task?{query}")
        if found is None:
            assert len(bundle["entry"]) == 1 and bundle["link"][1]["relation"] == "next"
            rest = httpx.URL(bundle["link"][1]["url"])
            more = await fhir_get(api, staff, f"Task?{rest.query.decode()}")
            assert {*ids(bundle), *ids(more)} == {urgent, routine}
        else:
            assert set(ids(bundle)) == found, query
    bad = await api.client.get(f"{BASE}/Task?status=open", headers=staff.headers)
    assert bad.status_code == 400
    elsewhere = await api.new_clinic()
    response = await api.client.get(f"{BASE}/Task/{raised}", headers=elsewhere.admin.headers)
    assert response.status_code == 404
    assert ids(await fhir_get(api, elsewhere.admin, f"Task?patient={patient}")) == []


@pytest.mark.unit
def test_task_last_updated_is_the_latest_change_escalation_included() -> None:
    created = datetime(2026, 11, 21, 12, 0, 5, tzinfo=UTC)
    alert = Alert(
        id=uuid.uuid4(),
        clinic_id=uuid.uuid4(),
        patient_id=uuid.uuid4(),
        procedure_id=uuid.uuid4(),
        report_id=None,
        rule_id="fever",
        rule_set_version=1,
        severity="urgent",
        status="open",
        title="Fever",
        created_at=created,
        # Later within the same second: as text "...:05Z" would sort after "...:05.400000Z".
        last_triggered_at=created.replace(microsecond=400_000),
        acknowledged_at=None,
        resolved_at=None,
        escalated_at=created + timedelta(minutes=30),
    )
    task = task_resource(alert, {})
    assert task["lastModified"] == task["meta"]["lastUpdated"] == "2026-11-21T12:30:05Z"
    alert.escalated_at = None
    task = task_resource(alert, {})
    assert task["lastModified"] == task["meta"]["lastUpdated"] == "2026-11-21T12:00:05.400000Z"
    Task.model_validate(task)
