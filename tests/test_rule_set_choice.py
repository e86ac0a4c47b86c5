"""Each clinic judges its reports with the rule set it chose (clinics.rule_set_version), and
every report and alert records the version that judged it. docs/clinical-rules.md has both
versions; these tests use the differences between them it lists."""

import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app.outbox.models import OutboxEvent
from app.scheduled.service import close_missed_checkins
from app.staff.models import Clinic
from app.staff.service import create_clinic_with_admin
from tests.helpers import Actor, Api, ClinicActors, report_body
from tests.problems import assert_problem

pytestmark = pytest.mark.anyio

PERFORMED = datetime.fromisoformat("2026-11-21T11:30:00+00:00")  # helpers.procedure_body
# Mild chills with the block's own leg weakness at 3 h: version 1 calls it a spinal infection,
# version 2 does not (an epidural abscess starts days later).
CHILLS_AND_WEAKNESS = [("chills", "mild"), ("leg_weakness", "mild")]


def body(hours: float, *effects: tuple[str, str]) -> dict[str, Any]:
    return report_body(
        recorded_at=(PERFORMED + timedelta(hours=hours)).isoformat(),
        temperature=None,
        relief_percent=None,
        side_effects=[{"kind": k, "severity": s} for k, s in effects],
    )


async def post(api: Api, actor: Actor, procedure: dict[str, Any], report: dict[str, Any]) -> Any:
    recorded = datetime.fromisoformat(report["recorded_at"])
    api.clock.set(max(api.clock.now(), recorded))
    response = await api.post_report(actor, procedure["id"], report)
    assert response.status_code == 201, response.text
    return response.json()


async def get(api: Api, actor: Actor, path: str, **params: Any) -> Any:
    response = await api.client.get(path, params=params, headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def alerts_of(api: Api, clinic: ClinicActors, procedure: dict[str, Any]) -> list[Any]:
    statuses = ["open", "acknowledged", "resolved"]
    page = await get(
        api, clinic.clinician, "/v1/alerts", patient_id=procedure["patient_id"], status=statuses
    )
    return list(page["items"])


async def set_version(api: Api, clinic: ClinicActors, version: object) -> Any:
    return await api.client.patch(
        "/v1/clinic", json={"rule_set_version": version}, headers=clinic.admin.headers
    )


async def test_two_clinics_on_different_versions_each_judge_with_their_own(api: Api) -> None:
    old, new = await api.new_clinic(rule_set_version=1), await api.new_clinic()
    seen = {}
    for clinic in (old, new):
        patient, procedure = await api.patient_with_procedure(clinic)
        result = await post(api, patient, procedure, body(3, *CHILLS_AND_WEAKNESS))
        version = (await get(api, clinic.clinician, "/v1/clinic"))["rule_set_version"]
        seen[version] = (clinic, patient, procedure, result)

    clinic, patient, procedure, result = seen[1]
    assert result["report"]["rule_set_version"] == 1
    assert result["guidance"]["level"] == "emergency"
    (notice,) = result["alerts"]
    assert (notice["rule_id"], notice["rule_set_version"]) == ("infection_with_neuro_signs", 1)
    (listed,) = await alerts_of(api, clinic, procedure)
    detail = await get(api, clinic.clinician, f"/v1/alerts/{notice['id']}")
    for alert in (listed, detail):
        assert (alert["rule_id"], alert["rule_version"], alert["rule_set_version"]) == (
            "infection_with_neuro_signs",
            1,
            1,
        )
    timeline = await get(api, clinic.clinician, f"/v1/patients/{patient.patient_id}/timeline")
    shown = {
        i["type"]: i["data"]["rule_set_version"]
        for i in timeline["items"]
        if "rule_set_version" in i["data"]
    }
    assert shown == {"alert": 1, "report": 1}
    async with api.db.read() as session:
        events = list(
            await session.scalars(
                select(OutboxEvent.data).where(OutboxEvent.clinic_id == clinic.clinic_id)
            )
        )
    assert [(e["rule_id"], e["rule_set_version"]) for e in events] == [
        ("infection_with_neuro_signs", 1)
    ]

    clinic, patient, procedure, result = seen[2]
    assert result["report"]["rule_set_version"] == 2
    assert result["guidance"]["level"] != "emergency"
    assert "infection_with_neuro_signs" not in {a["rule_id"] for a in result["alerts"]}
    assert all(a["rule_set_version"] == 2 for a in await alerts_of(api, clinic, procedure))


async def test_a_new_rule_set_judges_the_reports_stored_after_the_change(api: Api) -> None:
    clinic = await api.new_clinic()
    patient, procedure = await api.patient_with_procedure(clinic)
    before = await post(api, patient, procedure, body(3, *CHILLS_AND_WEAKNESS))
    assert before["report"]["rule_set_version"] == 2 and before["alerts"] == []

    changed = await set_version(api, clinic, 1)
    assert changed.status_code == 200, changed.text
    assert changed.json()["rule_set_version"] == 1
    assert (await get(api, clinic.clinician, "/v1/clinic"))["rule_set_version"] == 1
    after = await post(api, patient, procedure, body(3.5, *CHILLS_AND_WEAKNESS))
    assert after["report"]["rule_set_version"] == 1
    assert [(a["rule_id"], a["rule_set_version"]) for a in after["alerts"]] == [
        ("infection_with_neuro_signs", 1)
    ]
    stored = await get(api, clinic.clinician, f"/v1/procedures/{procedure['id']}/reports")
    assert [r["rule_set_version"] for r in stored["items"]] == [1, 2]  # newest first


async def audit_events(api: Api, clinic: ClinicActors, **filters: Any) -> list[Any]:
    page = await get(api, clinic.admin, "/v1/audit-events", actor_id=clinic.admin.id, **filters)
    return [e for e in page["items"] if e["route"] == "/v1/clinic" and e["method"] == "PATCH"]


async def test_a_rule_set_switch_is_an_audit_event_of_its_own(api: Api) -> None:
    """Changing the rule set under a running clinic is a safety event: the trail names it
    apart from other clinic settings, with the version the clinic moved to."""
    clinic = await api.new_clinic()
    patches: list[dict[str, Any]] = [
        {"escalate_urgent_minutes": 45},  # not the rule set
        {"rule_set_version": 1},
        {"rule_set_version": 1},  # already 1: no switch
        {"rule_set_version": 2, "escalate_emergency_minutes": 10},  # a switch, among others
    ]
    for patch in patches:
        api.clock.advance(timedelta(minutes=1))  # the trail lists newest first
        response = await api.client.patch("/v1/clinic", json=patch, headers=clinic.admin.headers)
        assert response.status_code == 200, response.text
    refused = await api.client.patch(
        "/v1/clinic", json={"rule_set_version": 1}, headers=clinic.clinician.headers
    )
    assert refused.status_code == 403, refused.text

    events = await audit_events(api, clinic)  # newest first
    assert [(e["action"], e["resource_type"], e["resource_id"]) for e in events] == [
        ("clinic.rule_set_change", "rule_set", "2"),
        ("clinic.update", "clinic", None),
        ("clinic.rule_set_change", "rule_set", "1"),
        ("clinic.update", "clinic", None),
    ]
    assert all(e["status"] == 200 and e["patient_ids"] == [] for e in events)
    switches = await audit_events(api, clinic, action="clinic.rule_set_change")
    assert [e["id"] for e in switches] == [events[0]["id"], events[2]["id"]]
    assert (await get(api, clinic.admin, "/v1/clinic"))["rule_set_version"] == 2

    from app.audit_trail.service import action_words

    assert action_words("clinic.rule_set_change") == "changed the clinic's clinical rule set"


async def test_a_retriggered_alert_takes_the_title_of_the_rule_set_that_fired_it(
    api: Api,
) -> None:
    """persistent_dizziness is "Persistent dizziness" in version 1 and "Dizziness beyond what
    the block explains" in version 2: an open alert re-triggered after the switch reads as the
    rule that fired it last."""
    clinic = await api.new_clinic(rule_set_version=1)
    patient, procedure = await api.patient_with_procedure(clinic)
    first = await post(api, patient, procedure, body(7, ("dizziness", "moderate")))
    (notice,) = [a for a in first["alerts"] if a["rule_id"] == "persistent_dizziness"]
    alert = await get(api, clinic.clinician, f"/v1/alerts/{notice['id']}")
    assert (alert["title"], alert["rule_version"], alert["rule_set_version"]) == (
        "Persistent dizziness",
        1,
        1,
    )

    assert (await set_version(api, clinic, 2)).status_code == 200
    again = await post(api, patient, procedure, body(8, ("dizziness", "moderate")))
    assert notice["id"] in {a["id"] for a in again["alerts"]}
    alert = await get(api, clinic.clinician, f"/v1/alerts/{notice['id']}")
    assert alert["occurrences"] == 2
    assert (alert["title"], alert["rule_version"], alert["rule_set_version"]) == (
        "Dizziness beyond what the block explains",
        2,
        2,
    )
    (listed,) = [a for a in await alerts_of(api, clinic, procedure) if a["id"] == notice["id"]]
    assert listed["title"] == "Dizziness beyond what the block explains"


async def test_only_an_admin_sets_a_known_rule_set(api: Api) -> None:
    clinic = await api.new_clinic()
    for actor in (clinic.clinician, clinic.patient):
        refused = await api.client.patch(
            "/v1/clinic", json={"rule_set_version": 1}, headers=actor.headers
        )
        assert refused.status_code == 403, refused.text
    for value in (0, 3, -1, "1", 1.0, True, None, [1]):
        response = await set_version(api, clinic, value)
        assert_problem(response, 422)
        assert response.json()["errors"][0]["loc"][:2] == ["body", "rule_set_version"]
    assert (await get(api, clinic.admin, "/v1/clinic"))["rule_set_version"] == 2


async def test_a_late_reports_successor_is_judged_again_by_the_version_that_judged_it(
    api: Api,
) -> None:
    """burning_pain_worse (version 2 only) compares with the previous report. The successor was
    judged by version 2 before the clinic moved to 1; the late report before it still raises
    version 2's alert on it, and the late report itself is judged by version 1."""
    clinic = await api.new_clinic()
    patient = await api.patient_actor(await api.create_patient(clinic.clinician))
    procedure = await api.create_procedure(
        clinic.clinician, patient.patient_id, baseline_symptoms=["burning_pain"]
    )
    successor = await post(api, patient, procedure, body(14, ("burning_pain", "severe")))
    assert successor["alerts"] == []
    assert (await set_version(api, clinic, 1)).status_code == 200

    late = await post(api, patient, procedure, body(13, ("burning_pain", "mild")))
    assert late["report"]["rule_set_version"] == 1 and late["alerts"] == []
    (alert,) = await alerts_of(api, clinic, procedure)
    assert (alert["rule_id"], alert["rule_set_version"], alert["report_id"]) == (
        "burning_pain_worse",
        2,
        successor["report"]["id"],
    )


async def test_the_clock_raises_alerts_with_the_clinics_current_version(api: Api) -> None:
    clinic = await api.new_clinic(rule_set_version=1)
    _, procedure = await api.patient_with_procedure(clinic)
    api.clock.set(PERFORMED + timedelta(days=3))  # past the first check-in windows
    assert await close_missed_checkins(api.app.state.services, api.clock.now()) > 0
    (alert,) = await alerts_of(api, clinic, procedure)
    assert (alert["rule_id"], alert["rule_set_version"]) == ("missed_checkin", 1)


async def test_rules_lists_the_clinics_version_or_the_one_asked_for(api: Api) -> None:
    old, new = await api.new_clinic(rule_set_version=1), await api.new_clinic()
    v1 = await get(api, old.clinician, "/v1/rules")
    v2 = await get(api, new.clinician, "/v1/rules")
    assert isinstance(v1, list) and isinstance(v2, list)
    assert await get(api, new.clinician, "/v1/rules", version=1) == v1
    assert await get(api, old.clinician, "/v1/rules", version=2) == v2
    ids = {version: {r["id"] for r in rules} for version, rules in ((1, v1), (2, v2))}
    assert "high_blood_glucose" in ids[2] - ids[1] and ids[1] <= ids[2]
    for bad in ("3", "0", "two", "1.5"):
        response = await api.client.get(
            "/v1/rules", params={"version": bad}, headers=old.clinician.headers
        )
        assert_problem(response, 422)
        assert response.json()["errors"][0]["loc"] == ["query", "version"]


async def test_a_clinic_made_by_create_admin_starts_on_version_2(api: Api) -> None:
    clinic, _ = await create_clinic_with_admin(
        api.app.state.services,
        clinic_name="New clinic",
        name="Admin",
        email=f"admin-{uuid.uuid4().hex[:10]}@clinic.example",
        password="a-long-password-1",
    )
    async with api.db.read() as session:
        stored = await session.scalar(select(Clinic.rule_set_version).where(Clinic.id == clinic.id))
    assert stored == 2
