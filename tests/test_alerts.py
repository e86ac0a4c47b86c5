"""Alerts through the API: raised with the report, deduplicated, worked by clinicians."""

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.helpers import Actor, Api, report_body
from tests.problems import assert_problem

pytestmark = pytest.mark.anyio

PERFORMED = datetime.fromisoformat("2026-11-21T11:30:00+00:00")  # helpers.procedure_body


def at(hours: float) -> str:
    return (PERFORMED + timedelta(hours=hours)).isoformat()


def body(hours: float, *effects: tuple[str, str], **fields: object) -> dict[str, Any]:
    return report_body(
        recorded_at=at(hours),
        temperature=None,
        relief_percent=None,
        pain_score=4,
        side_effects=[{"kind": k, "severity": s} for k, s in effects],
        **fields,
    )


async def _post(
    api: Api, patient: Actor, procedure: dict[str, Any], report: dict[str, Any]
) -> dict[str, Any]:
    recorded = datetime.fromisoformat(report["recorded_at"])
    if api.clock.now() < recorded:  # the app posts a report once it has been filled in
        api.clock.set(recorded)
    response = await api.post_report(patient, procedure["id"], report)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _alerts(
    api: Api, staff: Actor, procedure: dict[str, Any], **params: object
) -> list[dict[str, Any]]:
    query = {
        "patient_id": procedure["patient_id"],
        "status": ["open", "acknowledged", "resolved"],
        **params,
    }
    response = await api.client.get("/v1/alerts", params=query, headers=staff.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def _alert(api: Api, staff: Actor, alert_id: str) -> dict[str, Any]:
    """The clinician's view of an alert: the report response carries only a notice."""
    response = await api.client.get(f"/v1/alerts/{alert_id}", headers=staff.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_emergency_report_tells_the_patient_to_call_emergency_services(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    result = await _post(api, patient, procedure, body(0.5, ("breathing_difficulty", "mild")))
    assert result["guidance"]["level"] == "emergency"
    assert "breathing" in result["guidance"]["message"].lower()
    (alert,) = result["alerts"]
    assert (alert["rule_id"], alert["severity"]) == ("breathing_difficulty", "emergency")
    listed = await _alerts(api, api.world.a.clinician, procedure)
    assert [a["id"] for a in listed] == [alert["id"]]


async def test_expected_effect_gives_expected_guidance_and_no_alert(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    result = await _post(
        api, patient, procedure, body(0.5, ("leg_warmth", "moderate"), ("numbness", "mild"))
    )
    assert result["guidance"]["level"] == "expected" and result["alerts"] == []
    assert await _alerts(api, api.world.a.clinician, procedure) == []


async def test_a_rule_met_again_adds_an_occurrence_not_a_new_alert(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    api.clock.set(PERFORMED + timedelta(hours=20))
    first = await _post(api, patient, procedure, body(13, ("rash_or_itching", "mild")))
    api.clock.advance(timedelta(minutes=30))
    again = await _post(api, patient, procedure, body(14, ("rash_or_itching", "moderate")))
    assert again["alerts"][0]["id"] == first["alerts"][0]["id"]
    assert (await _alert(api, api.world.a.clinician, again["alerts"][0]["id"]))["occurrences"] == 2
    (alert,) = await _alerts(api, api.world.a.clinician, procedure)
    assert alert["occurrences"] == 2
    assert alert["last_triggered_at"] > alert["created_at"]
    # The re-trigger gives the same guidance as the first time.
    assert again["guidance"]["level"] == first["guidance"]["level"] == "contact_provider"


async def test_one_report_can_raise_several_alerts(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    api.clock.set(PERFORMED + timedelta(hours=9))
    result = await _post(
        api, patient, procedure, body(8, ("flank_pain", "moderate"), ("dizziness", "mild"))
    )
    rules = {a["rule_id"]: a["severity"] for a in result["alerts"]}
    assert rules == {"possible_internal_bleeding": "emergency", "urinary_tract_injury": "urgent"}
    assert result["guidance"]["level"] == "emergency"


async def test_acknowledge_then_resolve_and_invalid_transitions_are_409(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    alert = (await _post(api, patient, procedure, body(1, ("fainting", "mild"))))["alerts"][0]
    clinician = api.world.a.clinician
    path = f"/v1/alerts/{alert['id']}"
    ack = await api.client.post(
        f"{path}/acknowledge", json={"note": "Called patient"}, headers=clinician.headers
    )
    assert ack.status_code == 200
    assert ack.json()["status"] == "acknowledged" and ack.json()["acknowledged_by"] == str(
        clinician.id
    )
    assert ack.json()["acknowledgement_note"] == "Called patient"
    again = await api.client.post(f"{path}/acknowledge", headers=clinician.headers)
    assert_problem(again, 409)
    no_note = await api.client.post(f"{path}/resolve", json={}, headers=clinician.headers)
    assert no_note.status_code == 422
    done = await api.client.post(
        f"{path}/resolve", json={"note": "Seen in ED, fine"}, headers=clinician.headers
    )
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    assert done.json()["resolution_note"] == "Seen in ED, fine"
    for action, payload in (("acknowledge", None), ("resolve", {"note": "again"})):
        late = await api.client.post(f"{path}/{action}", json=payload, headers=clinician.headers)
        assert late.status_code == 409
    assert (await api.client.get(path, headers=clinician.headers)).json()["status"] == "resolved"


async def test_an_open_alert_may_be_resolved_directly_and_a_new_one_follows(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    first = (await _post(api, patient, procedure, body(1, ("fainting", "mild"))))["alerts"][0]
    resolved = await api.client.post(
        f"/v1/alerts/{first['id']}/resolve", json={"note": "ok"}, headers=api.world.a.admin.headers
    )
    assert resolved.status_code == 200
    second = (await _post(api, patient, procedure, body(1.5, ("fainting", "mild"))))["alerts"][0]
    assert second["id"] != first["id"]
    assert (await _alert(api, api.world.a.clinician, second["id"]))["occurrences"] == 1


async def test_alerts_are_the_clinics_own(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    alert = (await _post(api, patient, procedure, body(1, ("fainting", "mild"))))["alerts"][0]
    path = f"/v1/alerts/{alert['id']}"
    for staff in (api.world.b.admin, api.world.b.clinician):
        assert (await api.client.get(path, headers=staff.headers)).status_code == 404
        ack = await api.client.post(f"{path}/acknowledge", headers=staff.headers)
        assert ack.status_code == 404
        listed = await api.client.get(
            "/v1/alerts", params={"patient_id": procedure["patient_id"]}, headers=staff.headers
        )
        assert listed.json()["items"] == []
    assert (await api.client.get(path, headers=patient.headers)).status_code == 403
    assert (await api.client.get("/v1/alerts", headers=patient.headers)).status_code == 403
    assert (await api.client.get(path)).status_code == 401
    unchanged = await api.client.get(path, headers=api.world.a.clinician.headers)
    assert unchanged.json()["status"] == "open"


async def test_worklist_order_and_pages_without_gaps_while_reports_arrive(api: Api) -> None:
    clinic = await api.new_clinic()
    api.clock.set(PERFORMED + timedelta(hours=30))
    kinds = [
        ("rash_or_itching", "mild"),
        ("fainting", "mild"),
        ("other", "severe"),
        ("soreness", "severe"),
    ]

    async def raise_three() -> None:
        # An urgent, an emergency and (sore at > 96 h is routine, not here) another urgent.
        patient, procedure = await api.patient_with_procedure(clinic)
        for n, kind in enumerate(kinds[:3]):
            await _post(api, patient, procedure, body(20 + n, kind))
        api.clock.advance(timedelta(minutes=1))

    for _ in range(3):
        await raise_three()
    before = await api.client.get(
        "/v1/alerts", params={"limit": 200}, headers=clinic.clinician.headers
    )
    existing = {a["id"] for a in before.json()["items"]}
    assert len(existing) == 9
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await api.client.get("/v1/alerts", params=params, headers=clinic.clinician.headers)
        assert page.status_code == 200
        seen += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
        if len(seen) <= 6:
            await raise_three()  # new alerts keep arriving while the clinician pages
    ids = [a["id"] for a in seen]
    assert len(ids) == len(set(ids)), "an alert appeared twice"
    assert existing <= set(ids), "an alert that existed before paging was skipped"
    rank = {"emergency": 0, "urgent": 1, "routine": 2}
    keys = [(rank[a["severity"]], a["created_at"], a["id"]) for a in seen]
    assert keys == sorted(keys)
    assert sum(1 for a in seen if a["severity"] == "emergency") >= 3


async def test_worklist_filters(api: Api) -> None:
    clinic = await api.new_clinic()
    patient, procedure = await api.patient_with_procedure(clinic)
    await _post(api, patient, procedure, body(1, ("fainting", "mild"), ("rash_or_itching", "mild")))
    staff = clinic.clinician
    emergency = await api.client.get(
        "/v1/alerts", params={"severity": "emergency"}, headers=staff.headers
    )
    assert [a["rule_id"] for a in emergency.json()["items"]] == ["fainting"]
    everything = await api.client.get("/v1/alerts", headers=staff.headers)
    assert [a["severity"] for a in everything.json()["items"]] == ["emergency", "urgent"]
    other = await api.client.get(
        "/v1/alerts", params={"patient_id": str(uuid.uuid4())}, headers=staff.headers
    )
    assert other.json()["items"] == []
    bad = await api.client.get("/v1/alerts", params={"status": "closed"}, headers=staff.headers)
    assert bad.status_code == 422


async def test_rules_lists_the_whole_rule_set(api: Api) -> None:
    response = await api.client.get(
        "/v1/rules", params={"version": 1}, headers=api.world.a.clinician.headers
    )
    assert response.status_code == 200
    rules = {r["id"]: r for r in response.json()}
    assert len(rules) == 22 and rules["cauda_equina"]["severity"] == "emergency"
    assert rules["missed_checkin"]["severity"] == "routine"
    assert (
        await api.client.get("/v1/rules", headers=api.world.a.patient.headers)
    ).status_code == 403


WEAKNESS_SERIES = [body(13, ("leg_weakness", "mild")), body(14, ("leg_weakness", "severe"))]


def _summary(alerts: list[dict[str, Any]]) -> set[tuple[str, str, int]]:
    return {(a["rule_id"], a["severity"], a["occurrences"]) for a in alerts}


async def _run(api: Api, uploads: list[list[dict[str, Any]]]) -> set[tuple[str, str, int]]:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    api.clock.set(PERFORMED + timedelta(hours=20))
    for upload in uploads:
        fresh = [{**r, "client_report_id": str(uuid.uuid4())} for r in upload]
        response = await api.client.post(
            f"/v1/procedures/{procedure['id']}/reports/batch",
            json={"reports": fresh},
            headers=patient.headers,
        )
        assert {r["status"] for r in response.json()["results"]} == {"created"}
    return _summary(await _alerts(api, api.world.a.clinician, procedure))


async def test_out_of_order_and_late_uploads_give_the_same_alerts_as_in_order(api: Api) -> None:
    mild, severe = WEAKNESS_SERIES
    in_order = await _run(api, [[mild], [severe]])
    assert in_order == {
        ("persistent_numbness_or_weakness", "urgent", 2),
        ("worsening_weakness", "emergency", 1),
    }
    assert await _run(api, [[severe, mild]]) == in_order  # one batch, sent out of order
    assert await _run(api, [[severe], [mild]]) == in_order  # the earlier one synced late


async def test_severity_only_rises_on_a_retrigger(api: Api) -> None:
    """Every rule has one severity today; the mechanism is for rule sets that grade one."""
    from app.alerts.service import plan_alerts
    from app.rules.engine import Finding
    from app.rules.vocabulary import FindingSeverity

    patient, procedure = await api.patient_with_procedure(api.world.a)
    first = (await _post(api, patient, procedure, body(1, ("rash_or_itching", "mild"))))["alerts"][
        0
    ]

    async def retrigger(severity: FindingSeverity) -> None:
        finding = Finding(
            "allergic_reaction", 1, severity, "Possible allergic reaction", ("again",)
        )
        async with api.db.write() as session:
            await plan_alerts(
                session,
                clinic_id=api.world.a.clinic_id,
                patient_id=patient.patient_id,
                procedure_id=uuid.UUID(procedure["id"]),
                report_id=None,
                findings=[finding],
                rule_set_version=2,
                now=api.clock.now(),
            )

    await retrigger("emergency")
    await retrigger("routine")
    alert = (
        await api.client.get(f"/v1/alerts/{first['id']}", headers=api.world.a.clinician.headers)
    ).json()
    assert (alert["severity"], alert["occurrences"]) == ("emergency", 3)
