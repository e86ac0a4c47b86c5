import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Uuid, bindparam, event, select, text

from app.audit.models import AuditEvent
from app.core.clock import FixedClock
from app.core.config import Settings
from app.main import create_app
from app.reports.statements import storing_statement
from tests.conftest import START
from tests.helpers import Actor, Api, report_body
from tests.problems import assert_problem

pytestmark = pytest.mark.anyio


async def _reports(api: Api, actor: Actor, procedure_id: str) -> list[dict[str, Any]]:
    response = await api.client.get(f"/v1/procedures/{procedure_id}/reports", headers=actor.headers)
    assert response.status_code == 200
    return list(response.json()["items"])


async def _alert(api: Api, staff: Actor, alert_id: str) -> dict[str, Any]:
    """The clinician's view of an alert: the report response carries only a notice."""
    response = await api.client.get(f"/v1/alerts/{alert_id}", headers=staff.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_report_is_stored_and_returned_in_utc(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    body = report_body(
        recorded_at="2026-11-21T05:50:00-06:00", temperature={"value": 100.4, "unit": "F"}
    )
    response = await api.post_report(patient, procedure["id"], body)
    assert response.status_code == 201
    report = response.json()["report"]
    assert report["recorded_at"] == "2026-11-21T11:50:00Z"
    assert report["temperature"] == {"value": 100.4, "unit": "F", "celsius": 38.0}
    assert report["entered_by"] == "patient"
    # 100.4 °F is the fever threshold: the urgent fever alert is raised in the same response.
    (alert,) = response.json()["alerts"]
    assert (alert["rule_id"], alert["severity"], alert["status"]) == ("fever", "urgent", "open")
    full = await _alert(api, api.world.a.clinician, alert["id"])
    assert (full["rule_id"], full["severity"], full["status"]) == ("fever", "urgent", "open")
    assert full["report_id"] == report["id"] and full["occurrences"] == 1
    assert any("38.0 °C (100.4 °F)" in line for line in full["explanation"])
    assert response.json()["guidance"]["level"] == "contact_provider"
    stored = await _reports(api, api.world.a.clinician, procedure["id"])
    assert [r["id"] for r in stored] == [report["id"]]


async def test_staff_may_enter_a_report_for_the_patient(api: Api) -> None:
    _, procedure = await api.patient_with_procedure(api.world.a)
    response = await api.post_report(api.world.a.clinician, procedure["id"], report_body())
    assert response.status_code == 201
    assert response.json()["report"]["entered_by"] == "staff"


async def test_replay_with_same_body_returns_original_response_and_stores_nothing(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    body = report_body()
    first = await api.post_report(patient, procedure["id"], body)
    api.clock.advance(timedelta(hours=3))  # a retry long after: still the original answer
    again = await api.post_report(patient, procedure["id"], body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == first.json()
    assert len(await _reports(api, patient, procedure["id"])) == 1


async def test_replay_with_same_meaning_in_another_offset_is_a_duplicate(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    body = report_body(
        recorded_at="2026-11-21T11:45:00Z",
        side_effects=[
            {"kind": "soreness", "severity": "mild"},
            {"kind": "nausea", "severity": "mild"},
        ],
    )
    assert (await api.post_report(patient, procedure["id"], body)).status_code == 201
    same = {
        **body,
        "recorded_at": "2026-11-21T05:45:00-06:00",
        "side_effects": body["side_effects"][::-1],
    }
    assert (await api.post_report(patient, procedure["id"], same)).status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        {"pain_score": 5},
        {"notes": "changed"},
        {"side_effects": []},
        {"recorded_at": "2026-11-21T11:46:00Z"},
    ],
    ids=["pain", "notes", "side_effects", "recorded_at"],
)
async def test_replay_with_different_body_is_409_and_changes_nothing(
    api: Api, change: dict[str, Any]
) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    body = report_body()
    first = await api.post_report(patient, procedure["id"], body)
    conflict = await api.post_report(patient, procedure["id"], {**body, **change})
    assert_problem(conflict, 409)
    stored = await _reports(api, patient, procedure["id"])
    assert stored == [first.json()["report"]]


async def test_same_client_id_on_another_block_of_the_patient_is_409(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    second = await api.create_procedure(api.world.a.clinician, str(patient.patient_id))
    body = report_body()
    assert (await api.post_report(patient, procedure["id"], body)).status_code == 201
    assert (await api.post_report(patient, second["id"], body)).status_code == 409
    assert await _reports(api, patient, second["id"]) == []


async def test_twenty_concurrent_identical_submissions_store_one_report(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    body = report_body()
    responses = await asyncio.gather(
        *(api.post_report(patient, procedure["id"], body) for _ in range(20))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 19 + [201]
    assert len({r.json()["report"]["id"] for r in responses}) == 1
    assert len(await _reports(api, patient, procedure["id"])) == 1


async def test_concurrent_different_bodies_with_one_id_store_exactly_one(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    client_id = str(uuid.uuid4())
    bodies = [report_body(client_report_id=client_id, pain_score=n) for n in range(10)]
    responses = await asyncio.gather(
        *(api.post_report(patient, procedure["id"], b) for b in bodies)
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
    stored = await _reports(api, patient, procedure["id"])
    winner = next(r for r in responses if r.status_code == 201).json()["report"]
    assert stored == [winner]


async def test_reports_list_newest_recorded_first_with_stable_pages(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    api.clock.advance(timedelta(hours=2))
    base = api.clock.now() - timedelta(minutes=60)
    for minute in (5, 1, 30, 30, 12, 59, 44):  # upload order differs from recorded order; a tie
        at = (base + timedelta(minutes=minute)).isoformat()
        assert (
            await api.post_report(patient, procedure["id"], report_body(recorded_at=at))
        ).status_code == 201
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = await api.client.get(
            f"/v1/procedures/{procedure['id']}/reports", params=params, headers=patient.headers
        )
        assert page.status_code == 200
        seen += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
        # Reports keep arriving while the client pages: older ones must still come exactly once.
        late = (base + timedelta(minutes=50)).isoformat()
        await api.post_report(patient, procedure["id"], report_body(recorded_at=late))
    ids = [r["id"] for r in seen]
    assert len(ids) == len(set(ids))
    keys = [(r["recorded_at"], r["id"]) for r in seen]
    assert keys == sorted(keys, reverse=True)
    assert (
        len([r for r in seen if r["recorded_at"] < (base + timedelta(minutes=50)).isoformat()]) >= 6
    )


async def test_report_completes_the_checkin_whose_window_holds_it(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)  # performed 11:30Z
    api.clock.advance(timedelta(hours=2))  # 14:00Z; the 1 h window is [12:30, 14:30)
    await api.post_report(patient, procedure["id"], report_body(recorded_at="2026-11-21T12:30:00Z"))
    detail = (
        await api.client.get(f"/v1/procedures/{procedure['id']}", headers=patient.headers)
    ).json()
    statuses = [c["status"] for c in detail["checkins"]]
    assert statuses == ["completed"] + ["pending"] * 6
    assert detail["checkins"][0]["report_id"] is not None


async def test_report_outside_every_window_completes_nothing(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    await api.post_report(patient, procedure["id"], report_body(recorded_at="2026-11-21T12:29:59Z"))
    detail = (
        await api.client.get(f"/v1/procedures/{procedure['id']}", headers=patient.headers)
    ).json()
    assert {c["status"] for c in detail["checkins"]} == {"pending"}


async def test_windows_closed_before_the_block_was_entered_are_skipped(api: Api) -> None:
    patient = await api.create_patient(api.world.a.clinician)
    # Entered 30 h after the block: the 1 h, 4 h windows closed; 24 h window [24 h, 36 h) is open.
    procedure = await api.create_procedure(
        api.world.a.clinician, patient["id"], performed_at="2026-11-20T06:00:00Z"
    )
    statuses = [c["status"] for c in procedure["checkins"]]
    assert statuses == ["skipped", "skipped"] + ["pending"] * 5
    due = [c["due_at"] for c in procedure["checkins"]]
    assert due[0] == "2026-11-20T07:00:00Z" and due[-1] == "2026-12-04T06:00:00Z"


async def test_sequence_numbers_follow_each_patient(api: Api) -> None:
    clinician = api.world.a.clinician
    first = await api.create_patient(clinician)
    second = await api.create_patient(clinician)
    numbers = [
        (await api.create_procedure(clinician, first["id"]))["sequence_number"],
        (await api.create_procedure(clinician, first["id"]))["sequence_number"],
        (await api.create_procedure(clinician, second["id"]))["sequence_number"],
    ]
    assert numbers == [1, 2, 1]


async def test_concurrent_blocks_for_one_patient_get_distinct_sequence_numbers(api: Api) -> None:
    clinician = api.world.a.clinician
    patient = await api.create_patient(clinician)
    made = await asyncio.gather(*(api.create_procedure(clinician, patient["id"]) for _ in range(5)))
    assert sorted(p["sequence_number"] for p in made) == [1, 2, 3, 4, 5]


async def test_batch_is_processed_in_recorded_order_and_answers_in_sent_order(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    api.clock.advance(timedelta(hours=2))
    late, early = (
        report_body(recorded_at="2026-11-21T13:00:00Z"),
        report_body(recorded_at="2026-11-21T12:40:00Z"),
    )
    response = await api.client.post(
        f"/v1/procedures/{procedure['id']}/reports/batch",
        json={"reports": [late, early]},
        headers=patient.headers,
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["client_report_id"] for r in results] == [
        late["client_report_id"],
        early["client_report_id"],
    ]
    assert [r["status"] for r in results] == ["created", "created"]
    # Processed in recorded order: the earlier report got the earlier receipt.
    received = {r["client_report_id"]: r["report"]["received_at"] for r in results}
    assert received[early["client_report_id"]] <= received[late["client_report_id"]]
    again = await api.client.post(
        f"/v1/procedures/{procedure['id']}/reports/batch",
        json={"reports": [early]},
        headers=patient.headers,
    )
    assert again.json()["results"][0]["status"] == "duplicate"
    assert again.json()["results"][0]["report"] == results[1]["report"]


async def test_procedures_page_in_sequence(api: Api) -> None:
    clinician = api.world.a.clinician
    patient = await api.create_patient(clinician)
    for _ in range(3):
        await api.create_procedure(clinician, patient["id"])
    path = f"/v1/patients/{patient['id']}/procedures"
    first = (await api.client.get(path, params={"limit": 2}, headers=clinician.headers)).json()
    assert [p["sequence_number"] for p in first["items"]] == [1, 2]
    rest = (
        await api.client.get(
            path, params={"limit": 2, "cursor": first["next_cursor"]}, headers=clinician.headers
        )
    ).json()
    assert [p["sequence_number"] for p in rest["items"]] == [3] and rest["next_cursor"] is None


@pytest.mark.parametrize(
    ("timezone", "day"),
    [("Australia/Sydney", "22 November 2026"), ("Europe/London", "21 November 2026")],
)
async def test_the_emergency_message_dates_the_block_where_the_patient_lives(
    api: Api, timezone: str, day: str
) -> None:
    """A block at 22:30 UTC on 21 November is the 22nd in Sydney (UTC+11 then) and still the
    21st in London (UTC+0): the patient tells the ambulance their own date."""
    clinic = api.world.a
    api.clock.set(datetime(2026, 11, 21, 23, 30, tzinfo=UTC))
    patient = await api.create_patient(clinic.clinician, timezone=timezone)
    procedure = await api.create_procedure(
        clinic.clinician, patient["id"], performed_at="2026-11-21T22:30:00Z"
    )
    body = report_body(
        recorded_at="2026-11-21T23:15:00Z",
        side_effects=[{"kind": "chest_pain", "severity": "mild"}],
    )
    response = await api.post_report(await api.patient_actor(patient), procedure["id"], body)
    assert response.status_code == 201, response.text
    guidance = response.json()["guidance"]
    assert guidance["level"] == "emergency"
    assert f"(lumbar sympathetic block) on {day} and whether" in guidance["message"]


@pytest.mark.postgres_only
async def test_a_key_taken_at_the_insert_stores_nothing_and_audits_the_refusal(api: Api) -> None:
    """Another block's report takes the client_report_id between the same-key lookup and the
    insert (two devices of the patient syncing at once): ON CONFLICT refuses the report, and
    the one statement that would have stored it (storing_statement) completes no check-in and
    writes no 201 event. The 409's event names the block, not the report never stored."""
    patient, procedure = await api.patient_with_procedure(api.world.a)
    other = await api.create_procedure(api.world.a.clinician, str(patient.patient_id))
    taken = (await api.post_report(patient, other["id"], report_body())).json()["report"]
    api.clock.set(datetime(2026, 11, 21, 12, 45, tzinfo=UTC))  # first window: 12:30-14:30
    body = report_body(recorded_at="2026-11-21T12:40:00Z")
    take_the_key = text("UPDATE reports SET client_report_id = :key WHERE id = :id").bindparams(
        bindparam("key", uuid.UUID(body["client_report_id"]), type_=Uuid()),
        bindparam("id", uuid.UUID(taken["id"]), type_=Uuid()),
    )

    def just_before_the_insert(conn: Any, statement: Any, *_: Any) -> None:
        if statement is storing_statement():  # in its transaction, as a concurrent commit
            conn.execute(take_the_key)  # would be seen by the unique index

    event.listen(api.db.engine.sync_engine, "before_execute", just_before_the_insert)
    try:
        refused = await api.post_report(patient, procedure["id"], body)
    finally:
        event.remove(api.db.engine.sync_engine, "before_execute", just_before_the_insert)
    assert_problem(refused, 409)
    assert await _reports(api, patient, procedure["id"]) == []
    assert await _reports(api, patient, other["id"]) == [taken]
    block = await api.client.get(
        f"/v1/procedures/{procedure['id']}", headers=api.world.a.clinician.headers
    )
    assert block.json()["checkins"][0]["status"] == "pending"
    async with api.db.read() as session:
        events = list(
            await session.execute(
                select(AuditEvent.status, AuditEvent.resource_id).where(
                    AuditEvent.request_id == refused.headers["x-request-id"]
                )
            )
        )
    assert [tuple(e) for e in events] == [(409, procedure["id"])]


@pytest.mark.postgres_only
async def test_through_asyncpg_a_report_its_check_in_alert_and_event_commit_together(
    api: Api, database_url: str
) -> None:
    """The suite runs PostgreSQL through psycopg; asyncpg is what a bare postgresql:// URL
    deploys. storing_statement binds several parameters twice: through asyncpg too, a report
    that completes a check-in and raises an alert stores all of it, with its 201 event."""
    url = database_url.replace("+psycopg", "+asyncpg")
    secret = api.app.state.services.settings.secret_key
    app = create_app(Settings(database_url=url, secret_key=secret), FixedClock(START))
    patient, procedure = await api.patient_with_procedure(api.world.a)
    body = report_body(recorded_at="2026-11-21T12:40:00Z", temperature={"value": 38.6, "unit": "C"})
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        app.state.services.clock.set(datetime(2026, 11, 21, 12, 45, tzinfo=UTC))
        path = f"/v1/procedures/{procedure['id']}/reports"
        stored = await client.post(path, json=body, headers=patient.headers)
    assert stored.status_code == 201, stored.text
    report_id = stored.json()["report"]["id"]
    assert [a["rule_id"] for a in stored.json()["alerts"]] == ["fever"]
    block = await api.client.get(
        f"/v1/procedures/{procedure['id']}", headers=api.world.a.clinician.headers
    )
    first = block.json()["checkins"][0]
    assert (first["status"], first["report_id"]) == ("completed", report_id)
    async with api.db.read() as session:
        events = list(
            await session.execute(
                select(AuditEvent.status, AuditEvent.resource_id).where(
                    AuditEvent.request_id == stored.headers["x-request-id"]
                )
            )
        )
    assert [tuple(e) for e in events] == [(201, report_id)]
