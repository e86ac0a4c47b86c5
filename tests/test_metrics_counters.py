"""/metrics through the HTTP API: each counter moves when its event commits (and only then),
and the gauges read the database and the worker (tests/test_metrics_access.py: who may scrape,
the label bounds and the worker's heartbeat)."""

import logging
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core.db import Counted, count_on_commit
from app.main import create_app
from app.worker.loop import Worker
from tests import metrics_fixtures
from tests.helpers import Api, drain, emergency_report, report_body
from tests.metrics_fixtures import scrape
from tests.problems import assert_problem
from tests.receiver import Receiver

pytestmark = pytest.mark.anyio

# This module's tests each get a database of their own (tests/metrics_fixtures.py).
database_url = metrics_fixtures.database_url
world = metrics_fixtures.world
settings = metrics_fixtures.settings


@pytest.fixture
async def hook(api: Api, receiver: Receiver) -> str:
    """Clinic A's endpoint on the test's receiver."""
    response = await api.client.post(
        "/v1/webhooks", json={"url": receiver.url}, headers=api.world.a.admin.headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_a_stored_report_counts_once(api: Api) -> None:
    assert (await scrape(api.client)).value("aftercare_reports_stored_total") == 0
    patient, procedure = await api.patient_with_procedure(api.world.a)
    body = report_body()
    assert (await api.post_report(patient, procedure["id"], body)).status_code == 201
    assert (await scrape(api.client)).value("aftercare_reports_stored_total") == 1
    # A replay stores nothing; a refused report neither.
    assert (await api.post_report(patient, procedure["id"], body)).status_code == 200
    refused = await api.post_report(patient, procedure["id"], {**body, "pain_score": 3})
    assert_problem(refused, 409)
    assert (await scrape(api.client)).value("aftercare_reports_stored_total") == 1
    # Counters belong to the app that counted: another app on the same database starts at 0.
    other = create_app(api.app.state.services.settings, api.clock)
    transport = httpx.ASGITransport(app=other)
    async with (
        other.router.lifespan_context(other),
        httpx.AsyncClient(transport=transport, base_url="http://aftercare.test") as client,
    ):
        assert (await scrape(client)).value("aftercare_reports_stored_total") == 0


async def test_only_committed_events_are_counted(api: Api) -> None:
    services = api.app.state.services
    with pytest.raises(RuntimeError):
        async with services.db.write() as session:
            count_on_commit(session, "report_stored")
            raise RuntimeError("rolled back")
    assert (await scrape(api.client)).value("aftercare_reports_stored_total") == 0
    async with services.db.write() as session:
        count_on_commit(session, "report_stored")
    assert (await scrape(api.client)).value("aftercare_reports_stored_total") == 1


async def test_a_failing_commit_listener_changes_nothing_for_the_committed_request(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "listener text that could hold patient data"

    def failing(_: list[Counted]) -> None:
        raise RuntimeError(secret)

    api.app.state.services.db.commit_listeners.append(failing)
    patient, procedure = await api.patient_with_procedure(api.world.a)
    request_id = uuid.uuid4().hex
    with caplog.at_level(logging.ERROR, logger="aftercare"):
        response = await api.client.post(
            f"/v1/procedures/{procedure['id']}/reports",
            json=report_body(),
            headers={**patient.headers, "X-Request-ID": request_id},
        )
    assert response.status_code == 201, response.text
    async with api.db.read() as session:
        events = (
            await session.scalars(select(AuditEvent).where(AuditEvent.request_id == request_id))
        ).all()
    assert [(e.action, e.status) for e in events] == [("report.create", 201)]
    # The listeners before it still counted; the failure is logged by type, never its text.
    assert (await scrape(api.client)).value("aftercare_reports_stored_total") == 1
    failures = [r.getMessage() for r in caplog.records if "commit listener" in r.getMessage()]
    assert len(failures) == 1 and "RuntimeError" in failures[0], failures
    assert secret not in caplog.text


async def test_an_unknown_event_name_is_logged_and_the_commit_stands(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    services = api.app.state.services
    with caplog.at_level(logging.ERROR, logger="aftercare"):
        async with services.db.write() as session:
            count_on_commit(session, "report_storde")  # type: ignore[arg-type]
            count_on_commit(session, "report_stored")
    failures = [r.getMessage() for r in caplog.records if "commit listener" in r.getMessage()]
    assert len(failures) == 1 and "UnknownEvent" in failures[0], failures
    assert (await scrape(api.client)).value("aftercare_reports_stored_total") == 1


async def test_a_red_flag_counts_its_alert_by_rule_and_severity(api: Api) -> None:
    result = await emergency_report(api, api.world.a)
    (alert,) = result["alerts"]
    labels = {"rule_id": alert["rule_id"], "severity": alert["severity"]}
    assert alert["severity"] == "emergency"
    metrics = await scrape(api.client)
    assert metrics.value("aftercare_alerts_raised_total", **labels) == 1
    assert metrics.labels("aftercare_alerts_raised_total") == [labels]
    # The same red flag again on the same block re-triggers the open alert: not a new one.
    report = result["report"]
    patient = await api.patient_actor(
        {"id": report["patient_id"], "clinic_id": str(api.world.a.clinic_id)}
    )
    body = report_body(side_effects=[{"kind": "breathing_difficulty", "severity": "mild"}])
    again = await api.post_report(patient, report["procedure_id"], body)
    assert again.status_code == 201 and again.json()["alerts"][0]["id"] == alert["id"]
    assert (await scrape(api.client)).value("aftercare_alerts_raised_total", **labels) == 1


async def test_webhook_attempts_by_outcome(
    api: Api, receiver: Receiver, hook: str, worker: Worker
) -> None:
    await emergency_report(api, api.world.a)
    await drain(worker)
    assert len(receiver.received) == 1
    metrics = await scrape(api.client)
    assert metrics.value("aftercare_webhook_attempts_total", outcome="delivered") == 1
    assert metrics.value("aftercare_webhook_attempts_total", outcome="will_retry") == 0

    receiver.statuses.extend([500, 410])
    await emergency_report(api, api.world.a)
    await drain(worker)  # 500: retried later
    metrics = await scrape(api.client)
    assert metrics.value("aftercare_webhook_attempts_total", outcome="will_retry") == 1
    api.clock.advance(timedelta(minutes=1))
    await drain(worker)  # 410: given up
    metrics = await scrape(api.client)
    assert metrics.value("aftercare_webhook_attempts_total", outcome="gave_up") == 1
    assert metrics.value("aftercare_webhook_attempts_total", outcome="delivered") == 1
    outcomes = {s["outcome"] for s in metrics.labels("aftercare_webhook_attempts_total")}
    assert outcomes == {"delivered", "will_retry", "gave_up", "lease_expired"}


async def test_outbox_lag_is_the_oldest_undispatched_event_by_the_apps_clock(
    api: Api, worker: Worker
) -> None:
    assert (await scrape(api.client)).value("aftercare_outbox_lag_seconds") == 0
    await emergency_report(api, api.world.a)  # alert.created, waiting for the worker
    api.clock.advance(timedelta(seconds=90))
    await emergency_report(api, api.world.b)  # younger: the oldest one decides
    assert (await scrape(api.client)).value("aftercare_outbox_lag_seconds") == 90
    await drain(worker)
    assert (await scrape(api.client)).value("aftercare_outbox_lag_seconds") == 0


async def test_escalations_and_missed_checkins_counted_by_the_worker(
    api: Api, worker: Worker
) -> None:
    result = await emergency_report(api, api.world.a)
    await drain(worker)
    metrics = await scrape(api.client)
    assert metrics.value("aftercare_alerts_escalated_total", severity="emergency") == 0
    assert metrics.value("aftercare_checkins_missed_total") == 0

    assert metrics.value("aftercare_escalation_overdue_seconds") == 0
    # The clinic's emergency escalation delay is 15 minutes: 20 minutes on, with no worker
    # running, the escalation is 5 minutes overdue.
    api.clock.advance(timedelta(minutes=20))
    metrics = await scrape(api.client)
    assert metrics.value("aftercare_escalation_overdue_seconds") == 300
    assert metrics.value("aftercare_alerts_escalated_total", severity="emergency") == 0
    await drain(worker)
    metrics = await scrape(api.client)
    assert metrics.value("aftercare_alerts_escalated_total", severity="emergency") == 1
    assert metrics.value("aftercare_escalation_overdue_seconds") == 0

    api.clock.advance(timedelta(days=1))
    await drain(worker)
    procedure = await api.client.get(
        f"/v1/procedures/{result['report']['procedure_id']}",
        headers=api.world.a.clinician.headers,
    )
    missed = [c for c in procedure.json()["checkins"] if c["status"] == "missed"]
    assert missed  # the day closed some windows
    metrics = await scrape(api.client)
    assert metrics.value("aftercare_checkins_missed_total") == len(missed)
    assert metrics.value("aftercare_alerts_escalated_total", severity="emergency") == 1
