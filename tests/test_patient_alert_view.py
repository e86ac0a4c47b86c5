"""A report's response tells its sender which alerts it raised, never what clinicians wrote."""

import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from app.reports.models import Report
from tests.helpers import Actor, Api, report_body

pytestmark = pytest.mark.anyio

PERFORMED = datetime.fromisoformat("2026-11-21T11:30:00+00:00")  # helpers.procedure_body
NOTICE_KEYS = {
    "id",
    "rule_id",
    "rule_version",
    "rule_set_version",
    "severity",
    "title",
    "status",
    "created_at",
}


def fainting(hours: float) -> dict[str, Any]:
    return report_body(
        recorded_at=(PERFORMED + timedelta(hours=hours)).isoformat(),
        side_effects=[{"kind": "fainting", "severity": "mild"}],
    )


async def post(
    api: Api, actor: Actor, procedure: dict[str, Any], body: dict[str, Any]
) -> httpx.Response:
    recorded = datetime.fromisoformat(body["recorded_at"])
    if api.clock.now() < recorded:  # the app posts a report once it has been filled in
        api.clock.set(recorded)
    return await api.post_report(actor, procedure["id"], body)


async def post_batch(
    api: Api, actor: Actor, procedure: dict[str, Any], body: dict[str, Any]
) -> httpx.Response:
    recorded = datetime.fromisoformat(body["recorded_at"])
    if api.clock.now() < recorded:
        api.clock.set(recorded)
    return await api.client.post(
        f"/v1/procedures/{procedure['id']}/reports/batch",
        json={"reports": [body]},
        headers=actor.headers,
    )


async def acknowledged_alert(api: Api) -> tuple[Actor, dict[str, Any], str, str]:
    """A patient whose fainting alert a clinician acknowledged with a note only staff may read:
    the patient, the block, the alert id and the note."""
    patient, procedure = await api.patient_with_procedure(api.world.a)
    first = await post(api, patient, procedure, fainting(1))
    assert first.status_code == 201, first.text
    (alert,) = first.json()["alerts"]
    note = f"staff-only-{uuid.uuid4().hex}"
    ack = await api.client.post(
        f"/v1/alerts/{alert['id']}/acknowledge",
        json={"note": note},
        headers=api.world.a.clinician.headers,
    )
    assert ack.status_code == 200, ack.text
    return patient, procedure, alert["id"], note


def assert_patient_view(api: Api, text: str, alerts: list[dict[str, Any]], note: str) -> None:
    assert alerts and all(set(a) == NOTICE_KEYS for a in alerts), alerts
    assert note not in text and str(api.world.a.clinician.id) not in text


async def test_a_retriggered_acknowledged_alert_shows_the_patient_no_clinician_fields(
    api: Api,
) -> None:
    patient, procedure, alert_id, note = await acknowledged_alert(api)
    again = await post(api, patient, procedure, fainting(1.5))
    assert again.status_code == 201, again.text
    (alert,) = again.json()["alerts"]
    assert (alert["id"], alert["status"]) == (alert_id, "acknowledged")
    assert_patient_view(api, again.text, again.json()["alerts"], note)

    batch = await post_batch(api, patient, procedure, fainting(2))
    assert batch.status_code == 200, batch.text
    (item,) = batch.json()["results"]
    assert item["status"] == "created" and item["alerts"][0]["id"] == alert_id
    assert_patient_view(api, batch.text, item["alerts"], note)


async def test_a_response_stored_in_the_old_shape_is_replayed_as_the_patient_view(
    api: Api,
) -> None:
    patient, procedure, alert_id, note = await acknowledged_alert(api)
    body = fainting(1.5)
    created = await post(api, patient, procedure, body)
    assert created.status_code == 201, created.text
    # A row stored before the fix: the clinician's whole alert, note and staff id included.
    full = await api.client.get(f"/v1/alerts/{alert_id}", headers=api.world.a.clinician.headers)
    assert full.json()["acknowledgement_note"] == note
    old_shape = {**created.json(), "alerts": [full.json()]}
    async with api.db.write() as session:
        await session.execute(
            update(Report)
            .where(Report.id == uuid.UUID(created.json()["report"]["id"]))
            .values(response=old_shape)
        )
    assert note in json.dumps(old_shape)

    replay = await post(api, patient, procedure, body)
    assert replay.status_code == 200, replay.text
    assert replay.json() == created.json()
    assert_patient_view(api, replay.text, replay.json()["alerts"], note)

    batch = await post_batch(api, patient, procedure, body)
    assert batch.status_code == 200, batch.text
    (item,) = batch.json()["results"]
    assert item["status"] == "duplicate" and item["report"] == created.json()["report"]
    assert_patient_view(api, batch.text, item["alerts"], note)
