"""Escalation of unacknowledged alerts and missed check-ins, seen from a real receiver: each
alert.escalated / checkin.missed exactly once, whatever the workers, restarts and clinic delays.
Every test works in a clinic of its own: the worker is global, so only this clinic's receiver
and deliveries are judged."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from app.core.clock import FixedClock
from app.core.config import Settings
from app.core.deps import Services
from app.main import create_app
from app.worker.loop import Worker
from tests.helpers import (
    Actor,
    Api,
    ClinicActors,
    drain,
    loopback_webhook_settings,
    report_body,
)
from tests.receiver import Receiver

pytestmark = pytest.mark.anyio

MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)
SECOND = timedelta(seconds=1)
EMERGENCY = "breathing_difficulty"
URGENT = "rash_or_itching"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return loopback_webhook_settings(database_url)


@asynccontextmanager
async def other_app(settings: Settings, clock: FixedClock) -> AsyncIterator[Services]:
    """A second process's view of the same database: its own app, engine and pool."""
    app = create_app(settings, clock)
    async with app.router.lifespan_context(app):
        services: Services = app.state.services
        yield services


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Hook:
    """A clinic's endpoint on the test's receiver, and the verified events it got."""

    def __init__(self, receiver: Receiver, secret: str, webhook_id: str) -> None:
        self.receiver, self.secret, self.id = receiver, secret, webhook_id

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        verified = [Webhook(self.secret).verify(r.body, r.headers) for r in self.receiver.received]
        return [e for e in verified if kind is None or e["type"] == kind]

    def alert_ids(self, kind: str) -> list[str]:
        return [e["data"]["alert_id"] for e in self.events(kind)]


async def register(api: Api, clinic: ClinicActors, receiver: Receiver) -> Hook:
    response = await api.client.post(
        "/v1/webhooks", json={"url": receiver.url}, headers=clinic.admin.headers
    )
    assert response.status_code == 201, response.text
    return Hook(receiver, response.json()["secret"], response.json()["id"])


async def delivered_types(api: Api, clinic: ClinicActors, hook: Hook) -> list[str]:
    response = await api.client.get(
        f"/v1/webhooks/{hook.id}/deliveries", params={"limit": 200}, headers=clinic.admin.headers
    )
    assert response.status_code == 200, response.text
    return [d["event_type"] for d in response.json()["items"]]


async def raise_alert(api: Api, clinic: ClinicActors, kind: str) -> dict[str, Any]:
    """A fresh patient and block, and the report whose side effect raises one alert."""
    patient, procedure = await api.patient_with_procedure(clinic)
    body = report_body(side_effects=[{"kind": kind, "severity": "mild"}])
    response = await api.post_report(patient, procedure["id"], body)
    assert response.status_code == 201, response.text
    (alert,) = response.json()["alerts"]
    assert (await get_alert(api, clinic.clinician, alert["id"]))["escalated_at"] is None
    return dict(alert)


async def get_alert(api: Api, staff: Actor, alert_id: str) -> dict[str, Any]:
    response = await api.client.get(f"/v1/alerts/{alert_id}", headers=staff.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_an_emergency_alert_escalates_once_at_15_minutes(
    api: Api, receiver: Receiver, worker: Worker
) -> None:
    clinic = await api.new_clinic()
    hook = await register(api, clinic, receiver)
    alert = await raise_alert(api, clinic, EMERGENCY)
    assert alert["severity"] == "emergency"
    deadline = when(alert["created_at"]) + 15 * MINUTE

    api.clock.set(deadline - SECOND)
    await drain(worker)
    assert hook.alert_ids("alert.created") == [alert["id"]]  # the worker did deliver
    assert hook.events("alert.escalated") == []

    api.clock.set(deadline)
    await drain(worker)
    (event,) = hook.events("alert.escalated")
    data = event["data"]
    assert data["alert_id"] == alert["id"] and data["severity"] == "emergency"
    assert data["status"] == "open" and data["acknowledged_at"] is None
    assert when(data["escalated_at"]) == deadline == when(event["created_at"])
    got = await get_alert(api, clinic.clinician, alert["id"])
    assert when(got["escalated_at"]) == deadline and got["status"] == "open"

    await drain(worker)
    api.clock.advance(DAY)
    await drain(worker)
    assert len(hook.events("alert.escalated")) == 1
    assert hook.events("checkin.missed")  # the worker ran at the later time too


async def test_urgent_escalates_at_two_hours_and_routine_never(
    api: Api, receiver: Receiver, worker: Worker
) -> None:
    clinic = await api.new_clinic()
    hook = await register(api, clinic, receiver)
    urgent = await raise_alert(api, clinic, URGENT)
    assert urgent["severity"] == "urgent"
    patient = await api.create_patient(clinic.clinician)
    block = await api.create_procedure(clinic.clinician, patient["id"], baseline_pain=3)
    flare = report_body(pain_score=6, relief_percent=None)
    response = await api.post_report(clinic.clinician, block["id"], flare)
    assert response.status_code == 201, response.text
    (routine,) = response.json()["alerts"]
    assert (routine["rule_id"], routine["severity"]) == ("pain_flare", "routine")
    deadline = when(urgent["created_at"]) + 2 * HOUR

    api.clock.set(deadline - SECOND)
    await drain(worker)
    assert hook.events("alert.escalated") == []
    api.clock.set(deadline)
    await drain(worker)
    assert hook.alert_ids("alert.escalated") == [urgent["id"]]

    api.clock.advance(3 * DAY)
    await drain(worker)
    assert hook.alert_ids("alert.escalated") == [urgent["id"]]  # not the routine ones
    assert (await get_alert(api, clinic.clinician, routine["id"]))["escalated_at"] is None


async def test_acknowledged_or_resolved_alerts_never_escalate(
    api: Api, receiver: Receiver, worker: Worker
) -> None:
    clinic = await api.new_clinic()
    hook = await register(api, clinic, receiver)
    seen = await raise_alert(api, clinic, EMERGENCY)
    closed = await raise_alert(api, clinic, EMERGENCY)
    api.clock.advance(10 * MINUTE)
    staff = clinic.clinician.headers
    ack = await api.client.post(f"/v1/alerts/{seen['id']}/acknowledge", headers=staff)
    assert ack.status_code == 200, ack.text
    res = await api.client.post(
        f"/v1/alerts/{closed['id']}/resolve", json={"note": "Seen in clinic."}, headers=staff
    )
    assert res.status_code == 200, res.text

    api.clock.advance(DAY)
    await drain(worker)
    assert hook.alert_ids("alert.acknowledged") == [seen["id"]]
    assert hook.alert_ids("alert.resolved") == [closed["id"]]
    assert hook.events("alert.escalated") == []
    for alert in (seen, closed):
        assert (await get_alert(api, clinic.clinician, alert["id"]))["escalated_at"] is None


async def test_clinic_escalation_delays(api: Api, receiver: Receiver, worker: Worker) -> None:
    clinic, other = await api.new_clinic(), await api.new_clinic()
    hook = await register(api, clinic, receiver)
    before = await raise_alert(api, clinic, EMERGENCY)
    change = await api.client.patch(
        "/v1/clinic", json={"escalate_emergency_minutes": 5}, headers=clinic.admin.headers
    )
    assert change.status_code == 200, change.text
    assert change.json()["escalate_emergency_minutes"] == 5
    expected = {
        "id": str(clinic.clinic_id),
        "escalate_emergency_minutes": 5,
        "escalate_urgent_minutes": 120,
    }
    got = await api.client.get("/v1/clinic", headers=clinic.clinician.headers)
    assert got.status_code == 200 and got.json().items() >= expected.items()

    after = await raise_alert(api, clinic, EMERGENCY)
    deadline = when(after["created_at"]) + 5 * MINUTE
    api.clock.set(deadline - SECOND)
    await drain(worker)
    assert hook.events("alert.escalated") == []
    api.clock.set(deadline)
    await drain(worker)
    assert hook.alert_ids("alert.escalated") == [after["id"]]  # the earlier alert keeps 15 min
    api.clock.set(when(before["created_at"]) + 15 * MINUTE)
    await drain(worker)
    assert hook.alert_ids("alert.escalated") == [after["id"], before["id"]]

    as_clinician = await api.client.patch(
        "/v1/clinic", json={"escalate_emergency_minutes": 7}, headers=clinic.clinician.headers
    )
    assert as_clinician.status_code == 403
    assert (await api.client.get("/v1/clinic", headers=clinic.patient.headers)).status_code == 403
    refused = [
        {"escalate_emergency_minutes": 0},
        {"escalate_emergency_minutes": 61},
        {"escalate_urgent_minutes": 0},
        {"escalate_urgent_minutes": 1441},
        {"escalate_emergency_minutes": "ten"},
        {"escalate_urgent_minutes": "abc"},
        {"escalate_emergency_minutes": 10.5},
        {"escalate_emergency_minutes": 10, "name": "Renamed"},
        {"escalation": 10},
    ]
    for body in refused:
        response = await api.client.patch("/v1/clinic", json=body, headers=clinic.admin.headers)
        assert response.status_code == 422, (body, response.text)
    got = await api.client.get("/v1/clinic", headers=clinic.admin.headers)
    assert got.json().items() >= expected.items()
    untouched = await api.client.get("/v1/clinic", headers=other.clinician.headers)
    assert untouched.json()["escalate_emergency_minutes"] == 15
    assert untouched.json()["escalate_urgent_minutes"] == 120


async def test_clinic_delays_refuse_strings_floats_and_booleans(api: Api) -> None:
    clinic = await api.new_clinic()
    for value in ("10", 10.0, True):
        for field in ("escalate_emergency_minutes", "escalate_urgent_minutes"):
            response = await api.client.patch(
                "/v1/clinic", json={field: value}, headers=clinic.admin.headers
            )
            assert response.status_code == 422, (field, value, response.text)
    got = (await api.client.get("/v1/clinic", headers=clinic.admin.headers)).json()
    assert (got["escalate_emergency_minutes"], got["escalate_urgent_minutes"]) == (15, 120)


async def test_escalated_exactly_once_across_a_worker_restart(
    api: Api, settings: Settings, receiver: Receiver
) -> None:
    clinic = await api.new_clinic()
    hook = await register(api, clinic, receiver)
    alert = await raise_alert(api, clinic, EMERGENCY)
    created = when(alert["created_at"])
    api.clock.set(created + 16 * MINUTE)
    first = Worker(api.app.state.services)
    try:
        await drain(first)
    finally:
        await first.aclose()
    assert hook.alert_ids("alert.escalated") == [alert["id"]]

    async with other_app(settings, FixedClock(created + 30 * MINUTE)) as services:
        second = Worker(services)
        try:
            await drain(second)
        finally:
            await second.aclose()
    assert hook.alert_ids("alert.escalated") == [alert["id"]]
    assert (await delivered_types(api, clinic, hook)).count("alert.escalated") == 1
    got = await get_alert(api, clinic.clinician, alert["id"])
    assert when(got["escalated_at"]) == created + 16 * MINUTE


async def test_racing_workers_escalate_each_alert_once(
    api: Api, settings: Settings, receiver: Receiver, worker: Worker
) -> None:
    clinic = await api.new_clinic()
    hook = await register(api, clinic, receiver)
    # Escalate whatever other tests left overdue first, so the race is over these alerts.
    api.clock.advance(16 * MINUTE)
    await drain(worker)
    async with other_app(settings, api.clock) as services:
        rival = Worker(services)
        try:
            await asyncio.gather(worker.run_timers(), rival.run_timers())  # both pools warm
            alerts = [await raise_alert(api, clinic, EMERGENCY) for _ in range(5)]
            api.clock.advance(16 * MINUTE)
            for _ in range(50):
                if not any(await asyncio.gather(worker.run_timers(), rival.run_timers())):
                    break
        finally:
            await rival.aclose()
    await drain(worker)
    assert sorted(hook.alert_ids("alert.escalated")) == sorted(a["id"] for a in alerts)
    assert (await delivered_types(api, clinic, hook)).count("alert.escalated") == 5


async def _checkins(api: Api, staff: Actor, procedure_id: str) -> list[dict[str, Any]]:
    response = await api.client.get(f"/v1/procedures/{procedure_id}", headers=staff.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["checkins"])


async def test_missed_checkins_are_announced_once_each(
    api: Api, settings: Settings, receiver: Receiver, worker: Worker
) -> None:
    clinic = await api.new_clinic()
    hook = await register(api, clinic, receiver)
    _, procedure = await api.patient_with_procedure(clinic)
    performed = when(procedure["performed_at"])
    first = (await _checkins(api, clinic.clinician, procedure["id"]))[0]

    api.clock.set(performed + 3 * HOUR)
    await drain(worker)
    (missed,) = hook.events("checkin.missed")
    data = missed["data"]
    assert data["checkin_id"] == first["id"] and data["procedure_id"] == procedure["id"]
    assert when(data["due_at"]) == performed + HOUR == when(first["due_at"])
    assert when(data["closes_at"]) == performed + 3 * HOUR == when(first["closes_at"])
    assert data["status"] == "missed"
    (created,) = hook.events("alert.created")
    assert created["data"]["rule_id"] == "missed_checkin"
    assert created["data"]["severity"] == "routine"

    await drain(worker)
    async with other_app(settings, FixedClock(api.clock.now())) as services:
        restarted = Worker(services)
        try:
            await drain(restarted)
        finally:
            await restarted.aclose()
    assert len(hook.events("checkin.missed")) == 1 and len(hook.events("alert.created")) == 1

    api.clock.set(performed + 8 * HOUR)
    await drain(worker)
    second = (await _checkins(api, clinic.clinician, procedure["id"]))[1]
    assert [e["data"]["checkin_id"] for e in hook.events("checkin.missed")] == [
        first["id"],
        second["id"],
    ]
    assert hook.alert_ids("alert.created") == [created["data"]["alert_id"]]
    alert = await get_alert(api, clinic.clinician, created["data"]["alert_id"])
    assert alert["occurrences"] == 2 and alert["escalated_at"] is None


async def test_answered_and_skipped_windows_emit_nothing(
    api: Api, receiver: Receiver, worker: Worker
) -> None:
    clinic = await api.new_clinic()
    hook = await register(api, clinic, receiver)
    patient, procedure = await api.patient_with_procedure(clinic)  # performed 11:30Z
    performed = when(procedure["performed_at"])
    api.clock.set(performed + 75 * MINUTE)  # inside the 1 h window (12:30 -> 14:30)
    answer = report_body(recorded_at=api.clock.now().isoformat())
    assert (await api.post_report(patient, procedure["id"], answer)).status_code == 201
    late = await api.create_procedure(
        clinic.clinician, str(patient.patient_id), performed_at=(performed - 2 * DAY).isoformat()
    )
    skipped = [c["id"] for c in late["checkins"] if c["status"] == "skipped"]
    assert len(skipped) == 3  # 1 h, 4 h and 24 h closed before it was entered

    api.clock.set(performed + 1 * DAY)
    await drain(worker)
    windows = await _checkins(api, clinic.clinician, procedure["id"])
    assert windows[0]["status"] == "completed"
    missed = [e["data"]["checkin_id"] for e in hook.events("checkin.missed")]
    assert windows[1]["id"] in missed  # the worker did announce the 4 h window
    assert windows[0]["id"] not in missed
    assert not set(skipped) & set(missed)


async def test_event_payloads_carry_no_free_text(
    api: Api, receiver: Receiver, worker: Worker
) -> None:
    clinic = await api.new_clinic()
    hook = await register(api, clinic, receiver)
    alert = await raise_alert(api, clinic, EMERGENCY)  # patient "Alex Doe"
    staff = clinic.clinician.headers
    api.clock.advance(MINUTE)
    ack = await api.client.post(
        f"/v1/alerts/{alert['id']}/acknowledge",
        json={"note": "call patient re: Alex"},
        headers=staff,
    )
    assert ack.status_code == 200 and ack.json()["acknowledgement_note"] == "call patient re: Alex"
    resolved = await api.client.post(
        f"/v1/alerts/{alert['id']}/resolve",
        json={"note": "Spoke with her; settled."},
        headers=staff,
    )
    assert resolved.status_code == 200, resolved.text
    await drain(worker)

    kinds = sorted(e["type"] for e in hook.events())  # sent concurrently: in any order
    assert kinds == ["alert.acknowledged", "alert.created", "alert.resolved"]
    (acknowledged,) = hook.events("alert.acknowledged")
    assert acknowledged["data"]["status"] == "acknowledged"
    assert when(acknowledged["data"]["acknowledged_at"]) == when(ack.json()["acknowledged_at"])
    for got in receiver.received:
        text = got.body.decode()
        for secret in ("call patient", "Spoke with", "Alex", "Doe", "explanation", "title"):
            assert secret not in text, (secret, text)
        assert "note" not in json.loads(text)["data"]
