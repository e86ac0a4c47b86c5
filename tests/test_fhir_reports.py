"""Questionnaire, QuestionnaireResponse and Observation at /fhir/r4 (app/fhir/report_router.py
and observation_search.py), through the HTTP API on both databases. Every resource served is
validated by two FHIR libraries: fhir.resources (R4B models) and fhirclient (R4, strict)."""

import re
import uuid
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from fhirclient.models.bundle import Bundle as FcBundle
from fhirclient.models.observation import Observation as FcObservation
from fhirclient.models.questionnaire import Questionnaire as FcQuestionnaire
from fhirclient.models.questionnaireresponse import QuestionnaireResponse as FcResponse
from sqlalchemy import event

from app.fhir import observation_search
from app.fhir.observations import _KIND_BY_SLUG, MEASURES
from app.rules.vocabulary import Severity, SideEffectKind
from tests.helpers import Actor, Api, report_body
from tests.test_integrations import client_actor

pytestmark = pytest.mark.anyio
BASE = "/fhir/r4"
SIDE_EFFECT = "https://aftercare.example/fhir/CodeSystem/side-effect"
OWN = "https://aftercare.example/fhir/CodeSystem/observation"
LOINC, UCUM, SNOMED = "http://loinc.org", "http://unitsofmeasure.org", "http://snomed.info/sct"
MODELS: dict[str, tuple[Any, Any]] = {
    "Observation": (Observation, FcObservation),
    "QuestionnaireResponse": (QuestionnaireResponse, FcResponse),
    "Questionnaire": (Questionnaire, FcQuestionnaire),
    "Bundle": (Bundle, FcBundle),
}
SEVERITIES = list(Severity)
EVERY_EFFECT = [
    {"kind": kind.value, "severity": SEVERITIES[i % 3].value}
    for i, kind in enumerate(SideEffectKind)
]


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    r4b, fhirclient = MODELS[resource["resourceType"]]
    r4b.model_validate(resource)
    fhirclient(resource, strict=True)
    return resource


async def fhir(api: Api, actor: Actor, path: str, status: int = 200, **params: Any) -> Any:
    response = await api.client.get(f"{BASE}/{path}", params=params, headers=actor.headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    if status != 200:
        assert body["resourceType"] == "OperationOutcome"
    return valid(body) if status == 200 else body


async def post(api: Api, actor: Actor, procedure_id: str, **fields: Any) -> dict[str, Any]:
    response = await api.post_report(actor, procedure_id, report_body(**fields))
    assert response.status_code == 201, response.text
    return dict(response.json()["report"])


async def all_pages(api: Api, actor: Actor, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every resource of a search, following next links to the end."""
    resources: list[dict[str, Any]] = []
    url: str | None = f"{BASE}/{path}"
    query: dict[str, Any] | None = params
    while url is not None:
        response = await api.client.get(url, params=query, headers=actor.headers)
        assert response.status_code == 200, response.text
        bundle = valid(response.json())
        resources += [entry["resource"] for entry in bundle["entry"]]
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
        query = None
    return resources


def by_code(observations: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["code"]["coding"][0]["code"]: o for o in observations}


async def test_every_report_shape_maps_to_valid_resources(api: Api) -> None:
    clinic = await api.new_clinic()
    patient, block = await api.patient_with_procedure(clinic)
    staff = clinic.clinician
    bare = await post(
        api,
        patient,
        block["id"],
        recorded_at="2026-11-21T11:45:00Z",
        pain_score=0,
        relief_percent=None,
        temperature=None,
        side_effects=[],
    )
    full = await post(
        api,
        patient,
        block["id"],
        recorded_at="2026-11-21T05:40:00-06:00",
        relief_percent=70,
        relief_ended_at="2026-11-21T11:35:00Z",
        temperature={"value": 37.2, "unit": "C"},
        blood_glucose={"value": 162, "unit": "mg/dL"},
        side_effects=EVERY_EFFECT,
        notes="ok",
    )
    by_staff = await post(
        api,
        staff,
        block["id"],
        recorded_at="2026-11-21T11:50:00Z",
        relief_percent=0,
        temperature={"value": 99.1, "unit": "F"},
        blood_glucose={"value": 7.8, "unit": "mmol/L"},
        side_effects=[],
    )
    subject = {"reference": f"Patient/{patient.id}"}
    block_ref = [{"reference": f"Procedure/{block['id']}"}]

    responses = {
        r["id"]: await fhir(api, staff, f"QuestionnaireResponse/{r['id']}")
        for r in (bare, full, by_staff)
    }
    for response in responses.values():
        assert response["status"] == "completed" and response["subject"] == subject
        assert response["partOf"] == block_ref
        assert response["questionnaire"].endswith("/Questionnaire/post-block-check-in|1")
    assert [i["linkId"] for i in responses[bare["id"]]["item"]] == ["pain"]
    assert responses[bare["id"]]["author"] == subject and "author" not in responses[by_staff["id"]]
    assert responses[full["id"]]["authored"] == "2026-11-21T11:40:00Z"
    items = responses[full["id"]]["item"]
    assert len([i for i in items if i["linkId"] == "side-effect"]) == len(SideEffectKind)
    temperature = next(i for i in items if i["linkId"] == "temperature")["answer"][0]
    assert temperature["valueQuantity"] == {
        "value": 37.2,
        "unit": "°C",
        "system": UCUM,
        "code": "Cel",
    }

    found = await all_pages(api, staff, "Observation", patient=f"Patient/{patient.id}")
    assert len(found) == 1 + (5 + len(SideEffectKind)) + 4
    for observation in found:
        assert observation == await fhir(api, staff, f"Observation/{observation['id']}")
        assert re.fullmatch(r"[A-Za-z0-9\-.]{1,64}", observation["id"])
        assert observation["status"] == "final" and observation["subject"] == subject
        assert observation["partOf"] == block_ref
    grouped: dict[str, list[dict[str, Any]]] = {}
    for observation in found:
        report_id = observation["derivedFrom"][0]["reference"].split("/")[1]
        grouped.setdefault(report_id, []).append(observation)
    assert [o["code"]["coding"][0]["code"] for o in grouped[bare["id"]]] == ["72514-3"]
    pain = grouped[bare["id"]][0]
    assert pain["code"]["coding"][0]["system"] == LOINC
    assert pain["valueQuantity"] == {
        "value": 0,
        "unit": "{score}",
        "system": UCUM,
        "code": "{score}",
    }
    assert pain["category"][0]["coding"][0]["code"] == "survey"
    assert pain["effectiveDateTime"] == "2026-11-21T11:45:00Z"

    full_obs = by_code(grouped[full["id"]])
    celsius = full_obs["8310-5"]
    assert celsius["meta"]["profile"] == ["http://hl7.org/fhir/StructureDefinition/bodytemp"]
    assert celsius["category"][0]["coding"][0]["code"] == "vital-signs"
    assert celsius["valueQuantity"] == {"value": 37.2, "unit": "°C", "system": UCUM, "code": "Cel"}
    assert full_obs["2339-0"]["valueQuantity"] == {
        "value": 162,
        "unit": "mg/dL",
        "system": UCUM,
        "code": "mg/dL",
    }
    assert full_obs["relief-percent"]["code"]["coding"][0]["system"] == OWN
    assert full_obs["relief-percent"]["valueQuantity"]["value"] == 70
    assert full_obs["relief-ended"]["valueDateTime"] == "2026-11-21T11:35:00Z"
    snomed = {"mild": "255604002", "moderate": "6736007", "severe": "24484000"}
    for effect in EVERY_EFFECT:
        observation = full_obs[effect["kind"]]
        assert observation["code"]["coding"][0]["system"] == SIDE_EFFECT
        assert (
            observation["id"] == f"{uuid.UUID(full['id']).hex}-{effect['kind'].replace('_', '-')}"
        )
        coding = observation["valueCodeableConcept"]["coding"]
        assert coding == [
            {
                "system": SNOMED,
                "code": snomed[effect["severity"]],
                "display": effect["severity"].title(),
            }
        ]
    # The kind is displayed in the words the alerts and the timeline use, not its code's.
    redness = full_obs["site_redness"]["code"]["coding"][0]
    assert redness["display"] == "redness at the injection site"
    kind_answer = next(
        i
        for i in items
        if i["linkId"] == "side-effect"
        and i["item"][0]["answer"][0]["valueCoding"]["code"] == "weakness_both_legs"
    )
    assert (
        kind_answer["item"][0]["answer"][0]["valueCoding"]["display"]
        == "weakness or numbness in both legs"
    )

    staff_obs = by_code(grouped[by_staff["id"]])
    assert set(staff_obs) == {"72514-3", "relief-percent", "8310-5", "15074-8"}
    fahrenheit = staff_obs["8310-5"]["valueQuantity"]
    assert fahrenheit == {"value": 99.1, "unit": "°F", "system": UCUM, "code": "[degF]"}
    assert staff_obs["15074-8"]["valueQuantity"]["code"] == "mmol/L"
    # A measure the report does not hold is no observation.
    await fhir(api, staff, f"Observation/{uuid.UUID(bare['id']).hex}-temperature", 404)


async def test_paging_serves_every_observation_once(api: Api) -> None:
    clinic = await api.new_clinic()
    patient, block = await api.patient_with_procedure(clinic)
    kinds = [k.value for k in SideEffectKind][:4]
    times = ["11:31", "11:33", "11:33", "11:36", "11:40", "11:44", "11:44", "11:59"]
    for n, at in enumerate(times):  # 0 to 3 side effects, some reports at the same moment
        effects = [{"kind": k, "severity": "mild"} for k in kinds[: n % 4]]
        await post(
            api, patient, block["id"], recorded_at=f"2026-11-21T{at}:00Z", side_effects=effects
        )
    everything = await all_pages(api, clinic.clinician, "Observation", patient=str(patient.id))
    ids = [o["id"] for o in everything]
    assert len(ids) == len(set(ids)) == sum(3 + n % 4 for n in range(len(times)))
    for size in (1, 2, 3, 7):  # pages that end inside reports and at their ends
        paged = await all_pages(
            api, clinic.clinician, "Observation", patient=str(patient.id), _count=size
        )
        assert [o["id"] for o in paged] == ids
    responses = await all_pages(
        api, clinic.clinician, "QuestionnaireResponse", patient=str(patient.id), _count=3
    )
    assert len({r["id"] for r in responses}) == len(times)
    authored = [r["authored"] for r in responses]
    assert authored == sorted(authored, reverse=True)

    # Filters: code tokens (OR), the date range, the block.
    temperatures = await all_pages(
        api,
        clinic.clinician,
        "Observation",
        patient=str(patient.id),
        _count=2,
        code=f"{LOINC}|8310-5,{SIDE_EFFECT}|{kinds[0]}",
    )
    assert len(temperatures) == len(times) + sum(1 for n in range(len(times)) if n % 4 >= 1)
    both = {"code": ["72514-3", f"{LOINC}|8310-5"]}  # repeated parameters: AND
    assert (
        await all_pages(api, clinic.clinician, "Observation", patient=str(patient.id), **both) == []
    )
    window = {"date": ["ge2026-11-21T11:33:00Z", "lt2026-11-21T11:40:00Z"], "code": "72514-3"}
    assert (
        len(
            await all_pages(api, clinic.clinician, "Observation", patient=str(patient.id), **window)
        )
        == 3
    )
    day = await all_pages(
        api,
        clinic.clinician,
        "QuestionnaireResponse",
        **{"part-of": block["id"], "authored": "2026-11-21"},
    )
    assert len(day) == len(times)
    assert (
        await all_pages(
            api,
            clinic.clinician,
            "QuestionnaireResponse",
            patient=str(patient.id),
            authored="lt2026-11-21",
        )
        == []
    )


async def test_tenancy_roles_and_scopes(api: Api) -> None:
    clinic, other = await api.new_clinic(), await api.new_clinic()
    patient, block = await api.patient_with_procedure(clinic)
    report = await post(api, patient, block["id"])
    observation_id = f"{uuid.UUID(report['id']).hex}-pain"
    await fhir(api, other.clinician, f"QuestionnaireResponse/{report['id']}", 404)
    await fhir(api, other.clinician, f"Observation/{observation_id}", 404)
    for path in ("Observation", "QuestionnaireResponse"):
        bundle = await fhir(api, other.admin, path, patient=str(patient.id))
        assert bundle["entry"] == []
    await fhir(api, patient, "Observation", 403, patient=str(patient.id))
    await fhir(api, patient, f"QuestionnaireResponse/{report['id']}", 403)

    ehr, _ = await client_actor(api, clinic.admin, ["system/Observation.read"])
    bundle = await fhir(api, ehr, "Observation", patient=str(patient.id))
    assert bundle["entry"][0]["resource"]["id"] == observation_id
    await fhir(api, ehr, f"QuestionnaireResponse/{report['id']}", 403)


async def test_questionnaire_and_refusals(api: Api) -> None:
    clinic = await api.new_clinic()
    staff = clinic.clinician
    questionnaire = await fhir(api, staff, "Questionnaire/post-block-check-in")
    assert questionnaire["status"] == "active" and questionnaire["version"] == "1"
    url = questionnaire["url"]
    assert url == "https://aftercare.example/fhir/Questionnaire/post-block-check-in"
    for search in ({}, {"url": url}, {"url": f"{url}|1"}):
        assert (await fhir(api, staff, "Questionnaire", **search))["total"] == 1
    assert (await fhir(api, staff, "Questionnaire", url=f"{url}|2"))["total"] == 0
    await fhir(api, staff, "Questionnaire/other", 404)
    kinds = questionnaire["item"][5]["item"][0]["answerOption"]
    assert [o["valueCoding"]["code"] for o in kinds] == [k.value for k in SideEffectKind]

    patient = str(uuid.uuid4())
    for path, params in [
        ("Observation", {}),  # no patient: a whole clinic is bulk export's job
        ("Observation", {"patient": patient, "value-quantity": "5"}),
        ("Observation", {"patient": patient, "_cursor": "not-a-cursor"}),
        ("Observation", {"patient": patient, "date": "ne2026-11-21"}),
        ("Observation", {"patient": "Group/1"}),
        ("QuestionnaireResponse", {"patient": patient, "authored": "2026-11-21T10:00"}),
    ]:
        outcome = await fhir(api, staff, path, 400, **params)
        assert outcome["issue"][0]["code"] == "invalid"
    for missing in (
        "Observation/nope",
        f"Observation/{uuid.uuid4().hex}-fever",
        "QuestionnaireResponse/x",
    ):
        await fhir(api, staff, missing, 404)


@pytest.mark.unit
def test_observation_ids_fit_and_never_collide() -> None:
    assert not set(_KIND_BY_SLUG) & set(MEASURES)
    longest = max(len(slug) for slug in [*_KIND_BY_SLUG, *MEASURES])
    assert 32 + 1 + longest <= 64


async def test_patient_is_read_like_every_reference_search(api: Api) -> None:
    clinic = await api.new_clinic()
    staff = clinic.clinician
    one, block_one = await api.patient_with_procedure(clinic)
    two, block_two = await api.patient_with_procedure(clinic)
    await post(api, one, block_one["id"], recorded_at="2026-11-21T11:40:00Z")
    await post(api, two, block_two["id"], recorded_at="2026-11-21T11:45:00Z")
    for path in ("Observation", "QuestionnaireResponse"):
        # Commas are OR, as for Procedure and Task.
        both = (
            await all_pages(api, staff, path, patient=f"Patient/{one.id},{two.id}", code="72514-3")
            if path == "Observation"
            else await all_pages(api, staff, path, patient=f"Patient/{one.id},{two.id}")
        )
        assert {r["subject"]["reference"] for r in both} == {
            f"Patient/{one.id}",
            f"Patient/{two.id}",
        }
        # Given twice: refused, not the last one silently.
        outcome = await fhir(api, staff, path, 400, patient=[str(one.id), str(two.id)])
        assert outcome["issue"][0]["code"] == "invalid"
    blocks = await all_pages(
        api, staff, "QuestionnaireResponse", **{"part-of": f"{block_one['id']},{block_two['id']}"}
    )
    assert len(blocks) == 2
    await fhir(
        api, staff, "QuestionnaireResponse", 400, **{"part-of": [block_one["id"], block_two["id"]]}
    )


async def test_dates_past_the_last_year_are_invalid_not_a_crash(api: Api) -> None:
    clinic = await api.new_clinic()
    patient = str(uuid.uuid4())
    for path, params in [
        ("Observation", {"patient": patient, "date": "9999"}),
        ("Observation", {"patient": patient, "date": "9999-12-31"}),
        ("Observation", {"patient": patient, "date": "9999-12-31T23:59:59-05:00"}),
        ("QuestionnaireResponse", {"patient": patient, "authored": "gt9999-12"}),
        ("QuestionnaireResponse", {"patient": patient, "authored": "2026-02-30"}),
    ]:
        outcome = await fhir(api, clinic.clinician, path, 400, **params)
        assert outcome["issue"][0]["code"] == "invalid", params


async def test_observation_search_reads_reports_in_batches(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    clinic = await api.new_clinic()
    patient, block = await api.patient_with_procedure(clinic)
    for minute in range(12):
        await post(api, patient, block["id"], recorded_at=f"2026-11-21T11:{31 + minute}:00Z")
    monkeypatch.setattr(observation_search, "SCAN_BATCH", 5)
    selects: list[str] = []

    def count(_: Any, __: Any, statement: str, *___: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM REPORTS" in statement.upper():
            selects.append(statement)

    engine = api.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        # A code no report holds, one result a page: the scan reads 5 reports a query (each
        # round starts at the last report read), not _count + 1.
        bundle = await fhir(
            api,
            clinic.clinician,
            "Observation",
            patient=str(patient.id),
            code="urn:none|x",
            _count=1,
        )
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert bundle["entry"] == [] and len(selects) == 3
