"""/metrics through the HTTP API: each counter moves when its event commits, the gauges read
the database and the worker, the labels stay a small fixed set, and only the operator scrapes.

Each test has a database of its own: the counters and the outbox lag are compared exactly,
and the worker and the clock would otherwise also act on every other test's blocks."""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import ValidationError
from sqlalchemy import select
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.audit.models import AuditEvent
from app.core.clock import FixedClock
from app.core.config import Settings
from app.core.db import Counted, count_on_commit
from app.core.migrations import upgrade
from app.main import create_app
from app.worker.loop import Worker
from tests.conftest import START, UNTHROTTLED
from tests.helpers import (
    TEST_SECRET,
    Api,
    World,
    build_world,
    drain,
    emergency_report,
    loopback_webhook_settings,
    report_body,
)
from tests.problems import assert_problem
from tests.receiver import Receiver

pytestmark = pytest.mark.anyio
OUTSIDE = ("203.0.113.9", 40000)  # TEST-NET-3: any address that is not loopback
METRICS_TOKEN = "metrics-" + TEST_SECRET


@pytest.fixture
def database_url(backend: str, empty_database_factory: object) -> str:
    url: str = empty_database_factory(backend)  # type: ignore[operator]
    asyncio.run(upgrade(url))
    return url


@pytest.fixture
def world(database_url: str) -> World:
    return asyncio.run(build_world(database_url, START))


@pytest.fixture
def settings(database_url: str) -> Settings:
    base = loopback_webhook_settings(database_url)
    return base.model_copy(update=UNTHROTTLED)


class Scrape:
    def __init__(self, text: str) -> None:
        self.text = text
        self.samples = [s for f in text_string_to_metric_families(text) for s in f.samples]

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 when there is none (a labelled counter not yet used)."""
        found = [s.value for s in self.samples if s.name == name and s.labels == labels]
        assert len(found) <= 1, found
        return found[0] if found else 0.0

    def labels(self, name: str) -> list[dict[str, str]]:
        return [s.labels for s in self.samples if s.name == name]


async def scrape(client: httpx.AsyncClient) -> Scrape:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


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


async def test_the_in_process_workers_heartbeat(api: Api, settings: Settings) -> None:
    # The test's app runs no worker: no heartbeat, and /readyz says so.
    assert (await scrape(api.client)).labels("aftercare_worker_last_pass_timestamp_seconds") == []
    assert (await api.client.get("/readyz")).json()["worker_last_pass_at"] is None

    before = datetime.now(UTC).timestamp()
    app = create_app(settings, FixedClock(START), run_worker=True)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://aftercare.test") as client,
    ):
        for _ in range(100):  # the first pass starts at once; a few ms on an idle database
            metrics = await scrape(client)
            if metrics.labels("aftercare_worker_last_pass_timestamp_seconds"):
                break
            await asyncio.sleep(0.05)
        beat = metrics.value("aftercare_worker_last_pass_timestamp_seconds")
        assert before <= beat <= datetime.now(UTC).timestamp()
        ready = (await client.get("/readyz")).json()
        assert ready["status"] == "ready"
        readied = datetime.fromisoformat(ready["worker_last_pass_at"]).timestamp()
        assert readied >= beat - 1e-6  # the same pass or a later one; microseconds in JSON


async def test_request_labels_are_route_templates_only(api: Api) -> None:
    asked = [str(uuid.uuid4()) for _ in range(40)]
    for patient_id in asked[:30]:
        response = await api.client.get(
            f"/v1/patients/{patient_id}", headers=api.world.a.clinician.headers
        )
        assert_problem(response, 404)
    for anything in asked[30:]:
        assert (await api.client.get(f"/no/such/{anything}")).status_code == 404
    for _ in range(30):  # a method nobody serves: counted as "other", never by its name
        assert (await api.client.request("BREW", "/v1/patients")).status_code == 405

    metrics = await scrape(api.client)
    series = metrics.labels("aftercare_http_requests_total")
    # 70 requests to 41 distinct paths: three series, each named by a template or UNMATCHED.
    assert {(s["method"], s["route"], s["status"]) for s in series} == {
        ("GET", "/v1/patients/{patient_id}", "404"),
        ("GET", "<unmatched>", "404"),
        ("other", "/v1/patients", "405"),
    }
    assert not any(i in metrics.text for i in asked)
    documented = (await api.client.get("/openapi.json")).json()["paths"]
    assert {"/v1/patients/{patient_id}", "/v1/patients"} <= documented.keys()
    route = {"method": "GET", "route": "/v1/patients/{patient_id}"}
    assert metrics.value("aftercare_http_requests_total", **route, status="404") == 30
    assert metrics.value("aftercare_http_request_duration_seconds_count", **route) == 30


@pytest.fixture
def token_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"metrics_token": METRICS_TOKEN})


@pytest.fixture
async def outside(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """A client from a non-loopback address, on the test's app."""
    transport = httpx.ASGITransport(app=api.app, client=OUTSIDE)
    async with httpx.AsyncClient(transport=transport, base_url="http://aftercare.test") as c:
        yield c


async def test_without_a_token_only_loopback_may_scrape(
    api: Api, outside: httpx.AsyncClient
) -> None:
    await scrape(api.client)  # 127.0.0.1
    refused = await outside.get("/metrics")
    assert assert_problem(refused, 404) == assert_problem(await outside.get("/no-such"), 404)
    assert "aftercare_" not in refused.text
    openapi = (await api.client.get("/openapi.json")).json()
    assert "/metrics" not in openapi["paths"]


async def test_with_a_token_every_caller_must_bring_it(token_settings: Settings) -> None:
    app = create_app(token_settings, FixedClock(START))
    async with app.router.lifespan_context(app):
        for client_address in (OUTSIDE, ("127.0.0.1", 40000)):
            transport = httpx.ASGITransport(app=app, client=client_address)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://aftercare.test"
            ) as client:
                assert_problem(await client.get("/metrics"), 401)
                wrong = {"Authorization": "Bearer " + METRICS_TOKEN[:-1] + "x"}
                assert_problem(await client.get("/metrics", headers=wrong), 401)
                right = {"Authorization": f"Bearer {METRICS_TOKEN}"}
                response = await client.get("/metrics", headers=right)
                assert response.status_code == 200
                assert "aftercare_reports_stored_total 0.0" in response.text


async def test_behind_a_proxy_loopback_is_not_exempt(settings: Settings) -> None:
    """With forwarded IPs trusted ("*", as in many containers) the client address is what
    X-Forwarded-For says: anyone can claim 127.0.0.1, so only a token lets a scraper in."""
    forged = {"X-Forwarded-For": "127.0.0.1"}
    right = {**forged, "Authorization": f"Bearer {METRICS_TOKEN}"}
    for token in ("", METRICS_TOKEN):
        update = {"forwarded_allow_ips": "*", "metrics_token": token}
        app = create_app(settings.model_copy(update=update), FixedClock(START))
        # What uvicorn does with --proxy-headers --forwarded-allow-ips='*' (its ASGI types
        # and Starlette's are the same protocol, spelt differently).
        proxied: Any = ProxyHeadersMiddleware(app, trusted_hosts="*")  # type: ignore[arg-type]
        async with app.router.lifespan_context(app):
            for client_address in (OUTSIDE, ("127.0.0.1", 40000)):
                transport = httpx.ASGITransport(app=proxied, client=client_address)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://aftercare.test"
                ) as client:
                    if not token:
                        assert_problem(await client.get("/metrics", headers=forged), 404)
                        assert_problem(await client.get("/metrics"), 404)
                        continue
                    assert_problem(await client.get("/metrics", headers=forged), 401)
                    response = await client.get("/metrics", headers=right)
                    assert response.status_code == 200, response.text
                    assert "aftercare_reports_stored_total 0.0" in response.text


@pytest.mark.unit
@pytest.mark.parametrize("token", ["changeme", "short", "x" * 40])
def test_a_weak_metrics_token_is_refused(token: str) -> None:
    with pytest.raises(ValidationError, match="AFTERCARE_METRICS_TOKEN"):
        Settings(database_url="sqlite+aiosqlite:///:memory:", metrics_token=token)
