"""The per-block report cap: a report past it is refused aloud (409, what to do now) and
stores nothing; replays still answer; a red flag still gets through, up to a tenth more."""

from typing import Any

import httpx
import pytest

from app.core.config import Settings
from app.core.errors import TYPE_BASE
from tests.helpers import TEST_SECRET, Actor, Api, report_body
from tests.problems import assert_problem

pytestmark = pytest.mark.anyio

CAP = 3  # and a red-flag headroom of 1
CHEST_PAIN = [{"kind": "chest_pain", "severity": "mild"}]  # an emergency on both rule sets


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=TEST_SECRET,
        db_pool_size=5,
        reports_per_block_cap=CAP,
    )


def at(minute: int, **fields: Any) -> dict[str, Any]:
    return report_body(
        **{"recorded_at": f"2026-11-21T11:{minute:02d}:00Z", "side_effects": [], **fields}
    )


async def stored(api: Api, procedure_id: str) -> tuple[list[str], int]:
    """The block's report ids and the clinic's alert count, as a clinician reads them."""
    staff = api.world.a.clinician
    reports = await api.client.get(f"/v1/procedures/{procedure_id}/reports", headers=staff.headers)
    alerts = await api.client.get("/v1/alerts", headers=staff.headers)
    assert reports.status_code == alerts.status_code == 200
    mine = [a for a in alerts.json()["items"] if a["procedure_id"] == procedure_id]
    return [r["id"] for r in reports.json()["items"]], len(mine)


def assert_refused(response: httpx.Response, *words: str) -> None:
    problem = assert_problem(response, 409)
    assert problem["type"].endswith("/report-cap-reached")
    assert problem["errors"][0]["type"] == "report_cap"
    assert problem["detail"].startswith("This report was not saved")
    for word in words:
        assert word in problem["detail"]


async def fill(api: Api, patient: Actor, procedure_id: str) -> list[dict[str, Any]]:
    bodies = [at(31 + n, pain_score=4) for n in range(CAP)]
    for body in bodies:
        assert (await api.post_report(patient, procedure_id, body)).status_code == 201
    return bodies


async def test_a_full_block_refuses_aloud_stores_nothing_and_still_replays(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    pid = procedure["id"]
    bodies = await fill(api, patient, pid)
    before = await stored(api, pid)
    assert len(before[0]) == CAP

    refused = await api.post_report(patient, pid, at(40))
    assert_refused(refused, "Call the clinic", "emergency services")
    assert await stored(api, pid) == before

    replay = await api.post_report(patient, pid, bodies[0])
    assert (
        replay.status_code == 200
        and replay.json()["report"]["client_report_id"] == (bodies[0]["client_report_id"])
    )
    # The cap is per block: the patient's next block takes reports.
    other = await api.create_procedure(api.world.a.clinician, patient.patient_id or "")
    assert (await api.post_report(patient, other["id"], at(41))).status_code == 201


async def test_a_red_flag_passes_the_cap_once_then_tells_the_patient_to_call(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    pid = procedure["id"]
    await fill(api, patient, pid)

    flagged = await api.post_report(patient, pid, at(40, side_effects=CHEST_PAIN))
    assert flagged.status_code == 201, flagged.text
    assert flagged.json()["guidance"]["level"] == "emergency"
    reports, alerts = await stored(api, pid)
    assert (len(reports), alerts) == (CAP + 1, 1)

    again = await api.post_report(patient, pid, at(41, side_effects=CHEST_PAIN))
    assert_refused(again, "Call emergency services now")
    assert await stored(api, pid) == (reports, alerts)


async def test_a_batch_past_the_cap_refuses_each_extra_item(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    pid = procedure["id"]
    first, second = at(31), at(32)
    for body in (first, second):
        assert (await api.post_report(patient, pid, body)).status_code == 201
    last, extra = at(33), at(34)
    response = await api.client.post(
        f"/v1/procedures/{pid}/reports/batch",
        json={"reports": [extra, first, last]},
        headers=patient.headers,
    )
    assert response.status_code == 200, response.text
    extra_result, replay, created = response.json()["results"]
    assert (replay["status"], created["status"]) == ("duplicate", "created")
    assert extra_result["status"] == "rejected"
    assert extra_result["error"]["status"] == 409
    assert extra_result["error"]["errors"][0]["type"] == "report_cap"
    assert extra_result["error"]["type"] == f"{TYPE_BASE}report-cap-reached"
    assert "not saved" in extra_result["error"]["detail"]
    reports, _ = await stored(api, pid)
    assert len(reports) == CAP and extra_result["report"] is None
