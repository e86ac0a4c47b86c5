"""Rules the clock raises (missed check-ins, no relief by 14 days), driven by an injected clock."""

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from app.core.deps import Services
from app.scheduled.service import close_missed_checkins, raise_no_relief
from tests.helpers import Api, report_body

pytestmark = pytest.mark.anyio


async def drain(
    job: Callable[[Services, datetime], Awaitable[int]], services: Services, now: datetime
) -> int:
    """Call a batch job until it has nothing left, as the worker does; the total done."""
    total = 0
    while done := await job(services, now):
        total += done
    return total


def services_of(api: Api) -> Services:
    services: Services = api.app.state.services
    return services


async def _procedure(api: Api, procedure_id: str) -> dict[str, Any]:
    response = await api.client.get(
        f"/v1/procedures/{procedure_id}", headers=api.world.a.clinician.headers
    )
    return dict(response.json())


async def _alerts(api: Api, patient_id: str, rule_id: str) -> list[dict[str, Any]]:
    response = await api.client.get(
        "/v1/alerts",
        params={"patient_id": patient_id, "status": ["open", "acknowledged", "resolved"]},
        headers=api.world.a.clinician.headers,
    )
    return [a for a in response.json()["items"] if a["rule_id"] == rule_id]


async def test_a_closed_window_becomes_missed_once_and_raises_one_alert(api: Api) -> None:
    _, procedure = await api.patient_with_procedure(api.world.a)  # performed 11:30Z
    services = services_of(api)
    first_close = api.clock.now() + timedelta(hours=2, minutes=30)  # 1 h window closes 14:30Z
    # The closer works on every clinic's blocks (other tests' too): judge this block's state.
    await drain(close_missed_checkins, services, first_close - timedelta(seconds=1))
    assert (await _procedure(api, procedure["id"]))["checkins"][0]["status"] == "pending"
    assert await drain(close_missed_checkins, services, first_close) >= 1
    assert await drain(close_missed_checkins, services, first_close) == 0  # exactly once
    statuses = [c["status"] for c in (await _procedure(api, procedure["id"]))["checkins"]]
    assert statuses == ["missed"] + ["pending"] * 6
    (alert,) = await _alerts(api, procedure["patient_id"], "missed_checkin")
    assert (alert["severity"], alert["occurrences"], alert["report_id"]) == ("routine", 1, None)
    assert "closed 2026-11-21 14:30 UTC without a report" in alert["explanation"][0]
    # The 4 h window closes at 19:30Z: the same alert counts a second occurrence.
    assert await drain(close_missed_checkins, services, first_close + timedelta(hours=5)) >= 1
    (alert,) = await _alerts(api, procedure["patient_id"], "missed_checkin")
    assert alert["occurrences"] == 2


async def test_several_windows_closed_at_once_make_one_alert(api: Api) -> None:
    _, procedure = await api.patient_with_procedure(api.world.a)
    await drain(close_missed_checkins, services_of(api), api.clock.now() + timedelta(days=3))
    statuses = [c["status"] for c in (await _procedure(api, procedure["id"]))["checkins"]]
    assert statuses == ["missed"] * 4 + ["pending"] * 3
    (alert,) = await _alerts(api, procedure["patient_id"], "missed_checkin")
    assert alert["occurrences"] == 4


async def test_answered_and_skipped_windows_raise_nothing(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    api.clock.advance(timedelta(hours=1))
    await api.post_report(patient, procedure["id"], report_body(recorded_at="2026-11-21T12:45:00Z"))
    await drain(close_missed_checkins, services_of(api), api.clock.now() + timedelta(hours=2))
    assert (await _procedure(api, procedure["id"]))["checkins"][0]["status"] == "completed"
    late = await api.create_procedure(
        api.world.a.clinician, str(patient.patient_id), performed_at="2026-11-20T06:00:00Z"
    )
    assert [c["status"] for c in late["checkins"]][:2] == ["skipped", "skipped"]
    await drain(close_missed_checkins, services_of(api), api.clock.now())
    assert [c["status"] for c in (await _procedure(api, late["id"]))["checkins"]][:2] == [
        "skipped"
    ] * 2
    assert await _alerts(api, procedure["patient_id"], "missed_checkin") == []


async def test_a_late_offline_report_completes_a_missed_window(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    api.clock.advance(timedelta(hours=3))
    await drain(close_missed_checkins, services_of(api), api.clock.now())
    assert (await _procedure(api, procedure["id"]))["checkins"][0]["status"] == "missed"
    response = await api.post_report(
        patient, procedure["id"], report_body(recorded_at="2026-11-21T13:00:00Z")
    )
    assert response.status_code == 201
    first = (await _procedure(api, procedure["id"]))["checkins"][0]
    assert first["status"] == "completed" and first["report_id"] == response.json()["report"]["id"]


async def test_no_relief_at_14_days_once(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)  # baseline pain 7
    await api.post_report(
        patient, procedure["id"], report_body(recorded_at="2026-11-21T11:50:00Z", relief_percent=40)
    )
    services = services_of(api)
    fourteen_days = api.clock.now() - timedelta(minutes=30) + timedelta(hours=336)
    await drain(raise_no_relief, services, fourteen_days - timedelta(seconds=1))
    assert await _alerts(api, procedure["patient_id"], "no_relief") == []
    assert await drain(raise_no_relief, services, fourteen_days) >= 1
    await drain(raise_no_relief, services, fourteen_days + timedelta(days=1))  # checked once only
    (alert,) = await _alerts(api, procedure["patient_id"], "no_relief")
    assert alert["severity"] == "routine" and alert["report_id"] is None
    assert alert["occurrences"] == 1
    assert "Best relief 40 %" in " ".join(alert["explanation"])


async def test_no_alert_when_a_report_reached_half_relief(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    # No relief_percent given: derived from pain 3 against baseline 7 -> 57 %.
    body = report_body(recorded_at="2026-11-21T11:50:00Z", relief_percent=None, pain_score=3)
    await api.post_report(patient, procedure["id"], body)
    await drain(raise_no_relief, services_of(api), api.clock.now() + timedelta(days=15))
    assert await _alerts(api, procedure["patient_id"], "no_relief") == []
