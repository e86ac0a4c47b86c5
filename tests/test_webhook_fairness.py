"""Fair webhook delivery (issue 12): one clinic's dead or slow endpoints cannot delay another
clinic's alert; an endpoint has a bounded number of sends in flight; a clinic a bounded number
of endpoints; an endpoint that fails every attempt for days is disabled, with a reason and an
event to the clinic's other endpoints."""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from app.core.config import Settings
from app.main import create_app
from app.webhooks.claiming import clinic_room
from app.webhooks.delivery import fan_out
from app.worker.loop import Worker
from tests.helpers import (
    Api,
    ClinicActors,
    emergency_report,
    loopback_webhook_settings,
)
from tests.problems import assert_problem
from tests.receiver import BlackHole, Receiver

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def serving(api: Api, database_url: str, **overrides: Any) -> AsyncIterator[Api]:
    """The test's database, world and clock, served with loopback receivers allowed and these
    settings changed."""
    settings = Settings(**{**loopback_webhook_settings(database_url).model_dump(), **overrides})
    app = create_app(settings, api.clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield Api(client, app, api.world, api.clock)


@asynccontextmanager
async def worker_of(api: Api) -> AsyncIterator[Worker]:
    worker = Worker(api.app.state.services)
    try:
        yield worker
    finally:
        await worker.aclose()


async def register(api: Api, clinic: ClinicActors, url: str, **fields: Any) -> dict[str, Any]:
    response = await api.client.post(
        "/v1/webhooks", json={"url": url, **fields}, headers=clinic.admin.headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def disable_all(api: Api, clinic: ClinicActors) -> None:
    """So that no delivery this test left pending is sent by a later test's worker."""
    listed = await api.client.get("/v1/webhooks?limit=200", headers=clinic.admin.headers)
    for hook in listed.json()["items"]:
        response = await api.client.patch(
            f"/v1/webhooks/{hook['id']}", json={"enabled": False}, headers=clinic.admin.headers
        )
        assert response.status_code == 200, response.text


async def test_a_clinics_dead_endpoints_do_not_delay_another_clinics_alert(
    api: Api, database_url: str, receiver: Receiver
) -> None:
    """The issue's noisy tenant: 100 endpoints of clinic A at a receiver that accepts and never
    answers; clinic B's alert.created still arrives within 2 s. The timeout (3 s) is longer
    than that, so had A's sends taken every slot, B's would have waited for one to time out."""
    hole = BlackHole().start()
    async with serving(
        api, database_url, webhook_endpoints_per_clinic=100, webhook_timeout_seconds=3
    ) as edge:
        noisy, quiet = await edge.new_clinic(), await edge.new_clinic()
        for n in range(100):
            await register(edge, noisy, f"{hole.url}/{n}", events=["alert.created"])
        await register(edge, quiet, receiver.url, events=["alert.created"])
        concurrency = edge.app.state.services.settings.worker_concurrency
        stop = asyncio.Event()
        async with worker_of(edge) as worker:
            running = asyncio.create_task(worker.run(stop))
            try:
                await emergency_report(edge, noisy)
                # A's sends hold as many slots as a clinic may: they are all hanging now.
                held = clinic_room(concurrency)
                assert await asyncio.to_thread(hole.wait_for, held, 10.0)
                started = time.monotonic()
                alert = (await emergency_report(edge, quiet))["alerts"][0]
                assert await asyncio.to_thread(receiver.wait_for, 1, 5.0)
                took = time.monotonic() - started
                assert hole.held == held < concurrency  # A never had more, nor every slot
            finally:
                stop.set()
                hole.stop()  # the hanging sends fail at once, and the worker stops
                await asyncio.wait_for(running, timeout=10)
        await disable_all(edge, noisy)
        await disable_all(edge, quiet)
    assert took < 2.0, f"clinic B's alert took {took:.2f} s"
    (got,) = receiver.received
    assert got.body and alert["id"] in got.body.decode()


async def test_claims_rotate_across_clinics_instead_of_oldest_first(
    api: Api, database_url: str, receiver: Receiver
) -> None:
    """Clinic A's 10 deliveries are older than clinic B's one and outnumber the worker's 8
    slots; oldest first, B's would wait for a second round. It goes out in the first, beside
    half the slots' worth of A's."""
    async with serving(api, database_url, worker_concurrency=8) as edge:
        a, b = await edge.new_clinic(), await edge.new_clinic()
        for n in range(10):
            await register(edge, a, f"{receiver.url}/a{n}", events=["alert.created"])
        await register(edge, b, f"{receiver.url}/b", events=["alert.created"])
        services = edge.app.state.services
        await emergency_report(edge, a)
        assert await fan_out(services, edge.clock.now()) == 1
        edge.clock.advance(timedelta(seconds=1))
        await emergency_report(edge, b)
        async with worker_of(edge) as worker:
            await worker.run_once(timers=False)
            await worker.settle()
            first_round = [r.path for r in receiver.received]
            await worker.run_until_idle()
        await disable_all(edge, a)
        await disable_all(edge, b)
    assert "/hook/b" in first_round
    assert sum(path.startswith("/hook/a") for path in first_round) == clinic_room(8) == 4
    assert len({r.path for r in receiver.received}) == 11  # and then everything else


async def test_an_endpoint_has_at_most_so_many_sends_in_flight(
    api: Api, database_url: str, receiver: Receiver
) -> None:
    receiver.delay = 0.2  # slow enough that every due delivery would be under way together
    async with serving(api, database_url, webhook_in_flight_per_endpoint=2) as edge:
        clinic = await edge.new_clinic()
        await register(edge, clinic, receiver.url, events=["alert.created"])
        for _ in range(5):
            await emergency_report(edge, clinic)
        async with worker_of(edge) as worker:
            await worker.run_until_idle()
        await disable_all(edge, clinic)
    assert len(set(receiver.ids())) == 5
    assert receiver.most_at_once == edge.app.state.services.settings.webhook_in_flight_per_endpoint
    assert receiver.most_at_once == 2


async def test_a_clinic_may_have_only_so_many_endpoints(
    api: Api, database_url: str, receiver: Receiver
) -> None:
    async with serving(api, database_url, webhook_endpoints_per_clinic=3) as edge:
        clinic, other = await edge.new_clinic(), await edge.new_clinic()
        hooks = [await register(edge, clinic, f"{receiver.url}/{n}") for n in range(3)]
        off = await edge.client.patch(
            f"/v1/webhooks/{hooks[0]['id']}", json={"enabled": False}, headers=clinic.admin.headers
        )
        assert off.status_code == 200, off.text
        # A disabled endpoint still counts: its deliveries still queue for every event.
        response = await edge.client.post(
            "/v1/webhooks", json={"url": f"{receiver.url}/4"}, headers=clinic.admin.headers
        )
        assert_problem(response, 409)
        assert "3" in response.json()["detail"]
        listed = await edge.client.get("/v1/webhooks", headers=clinic.admin.headers)
        assert sorted(h["id"] for h in listed.json()["items"]) == sorted(h["id"] for h in hooks)
        await register(edge, other, receiver.url)  # another clinic's count is its own
        await disable_all(edge, clinic)
        await disable_all(edge, other)


async def hook_state(api: Api, clinic: ClinicActors, hook: dict[str, Any]) -> dict[str, Any]:
    response = await api.client.get(f"/v1/webhooks/{hook['id']}", headers=clinic.admin.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_an_endpoint_failing_every_attempt_for_72_hours_is_disabled(
    api: Api, database_url: str, receiver: Receiver
) -> None:
    dead, watcher = Receiver(status=500).start(), receiver
    try:
        async with serving(api, database_url) as edge, worker_of(edge) as worker:
            clinic = await edge.new_clinic()
            events = ["alert.created", "alert.acknowledged", "webhook_endpoint.disabled"]
            hook = await register(edge, clinic, dead.url, events=events)
            watching = await register(
                edge, clinic, watcher.url, events=["webhook_endpoint.disabled"]
            )
            began = edge.clock.now()
            alert_id = (await emergency_report(edge, clinic))["alerts"][0]["id"]
            await worker.run_until_idle()
            state = await hook_state(edge, clinic, hook)
            assert state["enabled"] is True
            assert state["failing_since"].startswith("2026-11-21T12:00:00")

            edge.clock.set(began + timedelta(hours=71, minutes=59))
            await worker.run_until_idle()  # the first delivery's last retry: failed too
            assert len(dead.received) >= 2
            assert (await hook_state(edge, clinic, hook))["enabled"] is True

            edge.clock.set(began + timedelta(hours=72))
            ack = await edge.client.post(
                f"/v1/alerts/{alert_id}/acknowledge", json={}, headers=clinic.clinician.headers
            )
            assert ack.status_code == 200, ack.text
            await worker.run_until_idle()
            state = await hook_state(edge, clinic, hook)
            assert state["enabled"] is False
            assert state["disabled_reason"].startswith("every attempt failed for 72 hours")
            assert state["disabled_at"].startswith("2026-11-24T12:00:00")
            assert state["failing_since"].startswith("2026-11-21T12:00:00")

            (told,) = watcher.received
            event = Webhook(watching["secret"]).verify(told.body, told.headers)
            assert event["type"] == "webhook_endpoint.disabled"
            assert event["data"]["webhook_id"] == hook["id"]
            assert event["data"]["disabled_reason"] == state["disabled_reason"]
            assert dead.url not in told.body.decode()  # never the URL
            listed = await edge.client.get(
                f"/v1/webhooks/{hook['id']}/deliveries", headers=clinic.admin.headers
            )
            assert "webhook_endpoint.disabled" not in {
                d["event_type"] for d in listed.json()["items"]
            }  # the dead endpoint is not told of itself

            enable = await edge.client.patch(
                f"/v1/webhooks/{hook['id']}", json={"enabled": True}, headers=clinic.admin.headers
            )
            assert enable.status_code == 200, enable.text
            assert (enable.json()["failing_since"], enable.json()["disabled_reason"]) == (
                None,
                None,
            )
            await disable_all(edge, clinic)
    finally:
        dead.stop()


async def test_one_delivered_attempt_starts_the_72_hours_again(
    api: Api, database_url: str, receiver: Receiver
) -> None:
    async with serving(api, database_url) as edge, worker_of(edge) as worker:
        clinic = await edge.new_clinic()
        events = ["alert.created", "alert.acknowledged", "alert.resolved"]
        hook = await register(edge, clinic, receiver.url, events=events)
        began = edge.clock.now()
        receiver.status = 500
        alert_id = (await emergency_report(edge, clinic))["alerts"][0]["id"]
        await worker.run_until_idle()
        assert (await hook_state(edge, clinic, hook))["failing_since"] is not None

        edge.clock.set(began + timedelta(hours=48))
        receiver.status = 204
        ack = await edge.client.post(
            f"/v1/alerts/{alert_id}/acknowledge", json={}, headers=clinic.clinician.headers
        )
        assert ack.status_code == 200, ack.text
        await worker.run_until_idle()
        assert (await hook_state(edge, clinic, hook))["failing_since"] is None

        edge.clock.set(began + timedelta(hours=73))
        receiver.status = 500
        resolve = await edge.client.post(
            f"/v1/alerts/{alert_id}/resolve",
            json={"note": "Called back"},
            headers=clinic.clinician.headers,
        )
        assert resolve.status_code == 200, resolve.text
        await worker.run_until_idle()
        state = await hook_state(edge, clinic, hook)
        assert state["enabled"] is True and state["failing_since"].startswith("2026-11-24T13:00")
        await disable_all(edge, clinic)
