"""/metrics through the HTTP API: only the operator scrapes (loopback, or a token), request
labels stay a small fixed set, and the in-process worker's heartbeat shows in /metrics and
/readyz (tests/test_metrics_counters.py: the counters moving with their events)."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from app.core.clock import FixedClock
from app.core.config import Settings
from app.main import create_app
from tests import metrics_fixtures
from tests.conftest import START
from tests.helpers import TEST_SECRET, Api
from tests.metrics_fixtures import scrape
from tests.problems import assert_problem

pytestmark = pytest.mark.anyio
OUTSIDE = ("203.0.113.9", 40000)  # TEST-NET-3: any address that is not loopback
METRICS_TOKEN = "metrics-" + TEST_SECRET

# This module's tests each get a database of their own (tests/metrics_fixtures.py).
database_url = metrics_fixtures.database_url
world = metrics_fixtures.world
settings = metrics_fixtures.settings


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
