"""Blood glucose on reports (docs/clinical-rules.md): accepted from every clinic in mmol/L or mg/dL,
stored as read and in mmol/L, shown, summarised, and judged by version 2 alone. The limits
themselves are in test_validation.py."""

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.helpers import Api, report_body

pytestmark = pytest.mark.anyio

PERFORMED = datetime.fromisoformat("2026-11-21T11:30:00+00:00")  # helpers.procedure_body


def body(hours: float, value: float, unit: str, **fields: Any) -> dict[str, Any]:
    return report_body(
        recorded_at=(PERFORMED + timedelta(hours=hours)).isoformat(),
        blood_glucose={"value": value, "unit": unit},
        **fields,
    )


async def test_glucose_in_either_unit_is_stored_shown_and_judged_by_version_2(api: Api) -> None:
    shown = {}
    for version in (1, 2):
        clinic = await api.new_clinic(rule_set_version=version)
        patient, procedure = await api.patient_with_procedure(clinic)
        high = await api.post_report(patient, procedure["id"], body(0.2, 400, "mg/dL"))
        assert high.status_code == 201, high.text
        assert high.json()["report"]["blood_glucose"] == {
            "value": 400,
            "unit": "mg/dL",
            "mmol_per_l": 22.202,
        }
        shown[version] = {a["rule_id"] for a in high.json()["alerts"]}
        normal = await api.post_report(patient, procedure["id"], body(0.3, 7.8, "mmol/L"))
        assert normal.status_code == 201, normal.text
        listed = await api.client.get(
            f"/v1/procedures/{procedure['id']}/reports", headers=clinic.clinician.headers
        )
        assert [r["blood_glucose"] for r in listed.json()["items"]] == [
            {"value": 7.8, "unit": "mmol/L", "mmol_per_l": 7.8},
            {"value": 400, "unit": "mg/dL", "mmol_per_l": 22.202},
        ]
    assert "high_blood_glucose" in shown[2] and "high_blood_glucose" not in shown[1]


async def test_the_timeline_names_glucose_and_the_new_side_effects_in_words(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    effects = [{"kind": "ringing_ears_or_metallic_taste", "severity": "mild"}]
    sent = await api.post_report(
        patient, procedure["id"], body(0.25, 256, "mg/dL", side_effects=effects)
    )
    assert sent.status_code == 201, sent.text
    timeline = await api.client.get(
        f"/v1/patients/{patient.patient_id}/timeline",
        params={"types": "report"},
        headers=api.world.a.clinician.headers,
    )
    (item,) = timeline.json()["items"]
    assert "ringing ears or metallic taste (mild)" in item["summary"]
    assert "glucose 14.2 mmol/L (256 mg/dL)" in item["summary"]


async def test_glucose_is_part_of_the_report_in_a_batch_and_in_its_replay(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    report = body(0.25, 9.1, "mmol/L")
    path = f"/v1/procedures/{procedure['id']}/reports"
    batch = await api.client.post(
        f"{path}/batch",
        json={"reports": [report, body(0.3, 999, "mmol/L")]},
        headers=patient.headers,
    )
    created, rejected = batch.json()["results"]
    assert created["status"] == "created" and created["report"]["blood_glucose"]["value"] == 9.1
    assert rejected["status"] == "rejected" and rejected["error"]["status"] == 422
    assert (await api.post_report(patient, procedure["id"], report)).status_code == 200
    other = {**report, "blood_glucose": {"value": 9.2, "unit": "mmol/L"}}
    assert (await api.post_report(patient, procedure["id"], other)).status_code == 409
