"""Provider contact through the API and a real receiver on 127.0.0.1: signed deliveries that
the independent `standardwebhooks` package verifies, retries, 410, manual retry, SSRF checks."""

import contextlib
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.core.config import Settings
from app.core.deps import Services
from app.main import create_app
from app.webhooks.sender import Sender
from app.worker.loop import Worker
from tests.helpers import (
    TEST_SECRET,
    Api,
    ClinicActors,
    emergency_report,
    loopback_webhook_settings,
)
from tests.problems import assert_problem
from tests.receiver import Received, Receiver

pytestmark = pytest.mark.anyio
# Endpoints this test registered: disabled when it ends, so that no delivery it left pending is
# ever sent by a later test's worker (to a stopped receiver, or a new one on a reused port).
_registered: list[tuple[dict[str, str], str]] = []


@pytest.fixture
def settings(database_url: str) -> Settings:
    return loopback_webhook_settings(database_url)


def strict_settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=TEST_SECRET,
        db_pool_size=2,
        allow_private_webhooks=False,
        webhook_timeout_seconds=2,
    )


@pytest.fixture(autouse=True)
async def disable_registered(api: Api) -> AsyncIterator[None]:
    yield
    while _registered:
        headers, hook_id = _registered.pop()
        response = await api.client.patch(
            f"/v1/webhooks/{hook_id}", json={"enabled": False}, headers=headers
        )
        assert response.status_code == 200, response.text


@pytest.fixture
async def strict(api: Api, database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The same database and clock, served by an app that forbids private targets."""
    app = create_app(strict_settings(database_url), api.clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://aftercare.test"
        ) as client:
            yield client


async def register(
    api: Api, clinic: ClinicActors, url: str, client: httpx.AsyncClient | None = None, **fields: Any
) -> dict[str, Any]:
    response = await (client or api.client).post(
        "/v1/webhooks", json={"url": url, **fields}, headers=clinic.admin.headers
    )
    assert response.status_code == 201, response.text
    _registered.append((clinic.admin.headers, response.json()["id"]))
    return dict(response.json())


def signed_for(hook: dict[str, Any], receiver: Receiver) -> list[Received]:
    """What the receiver got from this endpoint. A receiver's port may be one an earlier
    test's receiver had, and a worker sends every clinic's due deliveries, so another test's
    endpoint can still point here."""
    verifier = Webhook(hook["secret"])
    mine = []
    for got in receiver.received:
        with contextlib.suppress(WebhookVerificationError):
            verifier.verify(got.body, got.headers)
            mine.append(got)
    return mine


async def deliveries(
    api: Api, clinic: ClinicActors, hook_id: str, **params: Any
) -> list[dict[str, Any]]:
    response = await api.client.get(
        f"/v1/webhooks/{hook_id}/deliveries", params=params, headers=clinic.admin.headers
    )
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def at(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


async def test_an_alert_reaches_the_receiver_signed_and_thin(
    api: Api, receiver: Receiver, worker: Worker
) -> None:
    clinic = await api.new_clinic()
    hook = await register(api, clinic, receiver.url)
    assert hook["secret"].startswith("whsec_")
    result = await emergency_report(api, clinic)
    await worker.run_until_idle()

    (got,) = signed_for(hook, receiver)
    event = Webhook(hook["secret"]).verify(got.body, got.headers)
    assert event["type"] == "alert.created"
    assert got.headers["webhook-id"] == event["id"]
    alert = result["alerts"][0]
    assert event["data"]["alert_id"] == alert["id"]
    assert event["data"]["severity"] == "emergency"
    assert event["data"]["links"]["alert"] == f"/v1/alerts/{alert['id']}"
    # An EHR follows the FHIR reference with the same token it uses for the REST API.
    task = await api.client.get(
        f"/fhir/r4/{event['data']['fhir_reference']}", headers=clinic.clinician.headers
    )
    assert task.status_code == 200 and task.json()["id"] == alert["id"], task.text
    text = json.dumps(event)
    assert "Alex Doe" not in text and "explanation" not in text and "notes" not in text


async def test_tampered_stale_or_foreign_signatures_are_refused(
    api: Api, receiver: Receiver, worker: Worker
) -> None:
    clinic = await api.new_clinic()
    hook = await register(api, clinic, receiver.url)
    await emergency_report(api, clinic)
    await worker.run_until_idle()
    (got,) = signed_for(hook, receiver)
    verifier = Webhook(hook["secret"])
    assert verifier.verify(got.body, got.headers)["data"]["severity"] == "emergency"

    tampered = got.body.replace(b'"emergency"', b'"emergencx"')
    assert sum(a != b for a, b in zip(tampered, got.body, strict=True)) == 1
    stale = datetime.now(UTC) - timedelta(minutes=10)
    resigned = verifier.sign(got.webhook_id, stale, got.body.decode())  # valid HMAC, too old
    shifted = str(int(got.headers["webhook-timestamp"]) + 1)  # fresh, but not what was signed
    forged = [
        (tampered, got.headers),
        (got.body, {**got.headers, "webhook-timestamp": str(int(stale.timestamp()))}),
        (
            got.body,
            {
                **got.headers,
                "webhook-timestamp": str(int(stale.timestamp())),
                "webhook-signature": resigned,
            },
        ),
        (got.body, {**got.headers, "webhook-timestamp": shifted}),
    ]
    for body, headers in forged:
        with pytest.raises(WebhookVerificationError):
            verifier.verify(body, headers)
    other = await register(api, await api.new_clinic(), receiver.url)
    with pytest.raises(WebhookVerificationError):
        Webhook(other["secret"]).verify(got.body, got.headers)


async def test_receiver_down_then_up_is_retried_and_delivered_once(
    api: Api, receiver: Receiver, worker: Worker
) -> None:
    clinic = await api.new_clinic()
    hook = await register(api, clinic, receiver.url)
    receiver.stop()
    await emergency_report(api, clinic)
    await worker.run_until_idle()

    (delivery,) = await deliveries(api, clinic, hook["id"])
    assert delivery["status"] == "pending" and delivery["attempt_count"] == 1
    (first,) = delivery["attempts"]
    assert first["status_code"] is None and first["error"]
    assert delivery["last_status_code"] is None and delivery["last_error"] == first["error"]
    wait = at(delivery["next_attempt_at"]) - api.clock.now()
    assert timedelta(seconds=7.5) <= wait <= timedelta(seconds=12.5)

    back = Receiver(port=receiver.port).start()
    try:
        api.clock.advance(timedelta(seconds=5))
        await worker.run_until_idle()  # not due yet
        assert back.received == []
        api.clock.set(at(delivery["next_attempt_at"]) + timedelta(milliseconds=1))
        await worker.run_until_idle()
        (got,) = back.received
    finally:
        back.stop()
    assert Webhook(hook["secret"]).verify(got.body, got.headers)["id"] == delivery["event_id"]
    (delivery,) = await deliveries(api, clinic, hook["id"])
    assert delivery["status"] == "delivered" and delivery["next_attempt_at"] is None
    assert [a["number"] for a in delivery["attempts"]] == [1, 2]
    assert all(a["latency_ms"] >= 0 for a in delivery["attempts"])
    first, second = delivery["attempts"]
    assert at(first["attempted_at"]) < at(second["attempted_at"])
    assert second["status_code"] == 204 and second["error"] is None
    assert at(delivery["delivered_at"]) == at(second["attempted_at"])


async def test_410_disables_the_endpoint_until_an_admin_enables_it(
    api: Api, receiver: Receiver, worker: Worker
) -> None:
    clinic = await api.new_clinic()
    receiver.status = 410
    hook = await register(api, clinic, receiver.url)
    await emergency_report(api, clinic)
    await worker.run_until_idle()
    (delivery,) = await deliveries(api, clinic, hook["id"])
    assert delivery["status"] == "failed" and delivery["last_status_code"] == 410
    url = f"/v1/webhooks/{hook['id']}"
    shown = (await api.client.get(url, headers=clinic.admin.headers)).json()
    assert shown["enabled"] is False and "410" in shown["disabled_reason"]
    assert shown["disabled_at"] is not None

    api.clock.advance(timedelta(seconds=1))
    meanwhile = await emergency_report(api, clinic)  # while disabled: kept, not sent
    await worker.run_until_idle()
    assert len(receiver.received) == 1
    waiting, _ = await deliveries(api, clinic, hook["id"])
    assert (waiting["status"], waiting["attempt_count"]) == ("pending", 0)

    receiver.status = 204
    response = await api.client.patch(url, json={"enabled": True}, headers=clinic.admin.headers)
    assert response.status_code == 200, response.text
    assert response.json()["enabled"] is True and response.json()["disabled_reason"] is None
    api.clock.advance(timedelta(seconds=1))  # so that "newest first" has one answer
    later = await emergency_report(api, clinic)
    await worker.run_until_idle()
    # Re-enabled: what was raised while disabled goes out too, nothing is lost.
    sent = [Webhook(hook["secret"]).verify(r.body, r.headers) for r in receiver.received[1:]]
    assert sorted(e["data"]["alert_id"] for e in sent) == sorted(
        [meanwhile["alerts"][0]["id"], later["alerts"][0]["id"]]
    )
    newest, middle, oldest = await deliveries(api, clinic, hook["id"])
    assert (newest["status"], middle["status"], oldest["status"]) == (
        "delivered",
        "delivered",
        "failed",
    )


async def test_500_forever_backs_off_then_gives_up_after_24_hours(
    api: Api, receiver: Receiver, worker: Worker
) -> None:
    clinic = await api.new_clinic()
    receiver.status = 500
    # Only the acknowledgement: a day of timers raises other alerts for this clinic's patient.
    hook = await register(api, clinic, receiver.url, events=["alert.acknowledged"])
    alert_id = (await emergency_report(api, clinic))["alerts"][0]["id"]
    ack = await api.client.post(
        f"/v1/alerts/{alert_id}/acknowledge", json={}, headers=clinic.clinician.headers
    )
    assert ack.status_code == 200, ack.text
    await worker.run_until_idle()
    for _ in range(40):
        (delivery,) = await deliveries(api, clinic, hook["id"])
        if delivery["status"] != "pending":
            break
        api.clock.set(at(delivery["next_attempt_at"]))
        await worker.run_until_idle()
    assert delivery["status"] == "failed"
    attempts = delivery["attempts"]
    assert [a["number"] for a in attempts] == list(range(1, len(attempts) + 1))
    assert len(attempts) == delivery["attempt_count"] == len(receiver.received)
    assert len(set(receiver.ids())) == 1
    assert all(a["status_code"] == 500 and a["error"] == "HTTP 500" for a in attempts)
    times = [at(a["attempted_at"]) for a in attempts]
    assert times[-1] - times[0] >= timedelta(hours=24)
    assert times[-2] < at(delivery["give_up_at"]) <= times[-1]
    delays = [(b - a).total_seconds() for a, b in pairwise(times)]
    for n, delay in enumerate(delays, start=1):
        base = min(10 * 3 ** (n - 1), 4 * 3600)
        assert 0.75 * base - 0.001 <= delay <= 1.25 * base + 0.001, (n, delay)
    # Tripling outgrows the jitter until the 4 h cap (attempt 8), then it stays near 4 h.
    assert all(b > a for a, b in pairwise(delays[:8]))


async def test_a_redirect_is_not_followed(api: Api, receiver: Receiver, worker: Worker) -> None:
    clinic = await api.new_clinic()
    receiver.statuses.append(307)
    receiver.headers["location"] = receiver.url + "/elsewhere"
    hook = await register(api, clinic, receiver.url)
    await emergency_report(api, clinic)
    await worker.run_until_idle()
    assert [r.path for r in receiver.received] == ["/hook"]
    (delivery,) = await deliveries(api, clinic, hook["id"])
    (attempt,) = delivery["attempts"]
    assert attempt["status_code"] == 307 and "redirects are not followed" in attempt["error"]
    assert delivery["status"] == "pending"


async def test_manual_retry(api: Api, receiver: Receiver, worker: Worker) -> None:
    clinic, other = await api.new_clinic(), await api.new_clinic()
    receiver.status = 410
    hook = await register(api, clinic, receiver.url)
    other_hook = await register(api, other, receiver.url)
    await emergency_report(api, clinic)
    await worker.run_until_idle()
    (delivery,) = await deliveries(api, clinic, hook["id"])
    assert delivery["status"] == "failed"
    retry = f"/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}/retry"
    assert_problem(await api.client.post(retry, headers=clinic.admin.headers), 409)

    receiver.status = 204
    enable = await api.client.patch(
        f"/v1/webhooks/{hook['id']}", json={"enabled": True}, headers=clinic.admin.headers
    )
    assert enable.status_code == 200, enable.text
    for path, actor in [
        (retry, other.admin),
        (f"/v1/webhooks/{other_hook['id']}/deliveries/{delivery['id']}/retry", other.admin),
        (f"/v1/webhooks/{other_hook['id']}/deliveries/{delivery['id']}/retry", clinic.admin),
        (f"/v1/webhooks/{hook['id']}/deliveries/{uuid.uuid4()}/retry", clinic.admin),
    ]:
        assert_problem(await api.client.post(path, headers=actor.headers), 404)

    api.clock.advance(timedelta(minutes=10))  # the retry opens a new 24 h window from now
    response = await api.client.post(retry, headers=clinic.admin.headers)
    assert response.status_code == 202, response.text
    pending = response.json()
    assert pending["status"] == "pending" and pending["attempt_count"] == 1
    assert at(pending["give_up_at"]) == api.clock.now() + timedelta(hours=24)
    await worker.run_until_idle()
    (delivery,) = await deliveries(api, clinic, hook["id"])
    assert delivery["status"] == "delivered" and delivery["attempt_count"] == 2
    assert receiver.ids() == [delivery["event_id"]] * 2
    Webhook(hook["secret"]).verify(receiver.received[1].body, receiver.received[1].headers)

    # A delivered one may be sent again too, but not while an attempt is under way.
    receiver.delay = 0.5
    assert (await api.client.post(retry, headers=clinic.admin.headers)).status_code == 202
    await worker.run_once(timers=False)
    assert_problem(await api.client.post(retry, headers=clinic.admin.headers), 409)
    await worker.settle()
    (delivery,) = await deliveries(api, clinic, hook["id"])
    assert delivery["status"] == "delivered" and delivery["attempt_count"] == 3


async def test_endpoints_get_only_the_events_they_subscribe_to(
    api: Api, receiver: Receiver, worker: Worker
) -> None:
    clinic = await api.new_clinic()
    hooks = {
        "/hook/escalated": await register(
            api, clinic, receiver.url + "/escalated", events=["alert.escalated"]
        ),
        "/hook/ack": await register(
            api, clinic, receiver.url + "/ack", events=["alert.created", "alert.acknowledged"]
        ),
        "/hook/resolved": await register(
            api, clinic, receiver.url + "/resolved", events=["alert.resolved"]
        ),
    }
    alert_id = (await emergency_report(api, clinic))["alerts"][0]["id"]
    await worker.run_until_idle()
    ack = await api.client.post(
        f"/v1/alerts/{alert_id}/acknowledge", json={}, headers=clinic.clinician.headers
    )
    assert ack.status_code == 200, ack.text
    await worker.run_until_idle()
    resolve = await api.client.post(
        f"/v1/alerts/{alert_id}/resolve",
        json={"note": "Called the patient back"},
        headers=clinic.clinician.headers,
    )
    assert resolve.status_code == 200, resolve.text
    await worker.run_until_idle()

    got = []
    for r in receiver.received:
        event = Webhook(hooks[r.path]["secret"]).verify(r.body, r.headers)
        assert event["data"]["alert_id"] == alert_id
        assert "Called the patient" not in r.body.decode()
        got.append((r.path, event["type"], event["data"]["status"]))
    assert got == [
        ("/hook/ack", "alert.created", "open"),
        ("/hook/ack", "alert.acknowledged", "acknowledged"),
        ("/hook/resolved", "alert.resolved", "resolved"),
    ]
    assert await deliveries(api, clinic, hooks["/hook/escalated"]["id"]) == []


async def test_only_the_clinics_admin_manages_its_webhooks(api: Api, receiver: Receiver) -> None:
    clinic, other = await api.new_clinic(), await api.new_clinic()
    hook = await register(api, clinic, receiver.url, description="EHR")
    mine = f"/v1/webhooks/{hook['id']}"
    calls: list[tuple[str, str, Any]] = [
        ("POST", "/v1/webhooks", {"url": receiver.url}),
        ("GET", "/v1/webhooks", None),
        ("GET", mine, None),
        ("PATCH", mine, {"description": "changed"}),
        ("GET", f"{mine}/deliveries", None),
        ("POST", f"{mine}/deliveries/{uuid.uuid4()}/retry", None),
    ]
    for actor in (clinic.clinician, clinic.patient):
        for method, path, body in calls:
            response = await api.client.request(method, path, json=body, headers=actor.headers)
            assert_problem(response, 403)
    for method, path, body in calls[2:]:  # another clinic's admin does not see it at all
        response = await api.client.request(method, path, json=body, headers=other.admin.headers)
        assert_problem(response, 404)

    theirs = await register(api, other, receiver.url)
    for actor, expected in ((clinic.admin, hook), (other.admin, theirs)):
        listed = await api.client.get("/v1/webhooks", headers=actor.headers)
        assert [h["id"] for h in listed.json()["items"]] == [expected["id"]]
    shown = await api.client.get(mine, headers=clinic.admin.headers)
    assert shown.json()["description"] == "EHR"  # nobody above changed it
    patched = await api.client.patch(
        mine, json={"description": "EHR 2"}, headers=clinic.admin.headers
    )
    assert patched.status_code == 200, patched.text
    listed = await api.client.get("/v1/webhooks", headers=clinic.admin.headers)
    for response in (shown, patched, listed):
        assert "secret" not in response.text and hook["secret"] not in response.text


REFUSED = [
    "http://example.com/hook",
    "https://127.0.0.1/hook",
    "https://localhost/hook",
    "https://10.0.0.5/",
    "https://192.168.1.10/",
    "https://172.16.0.1/",
    "https://169.254.169.254/latest/meta-data",
    "https://100.64.0.1/",
    "https://[::1]/",
    "https://[::ffff:127.0.0.1]/",
    "https://[64:ff9b::7f00:1]/",
    "https://0.0.0.0/",
    "https://user:pw@8.8.8.8/",
    "https://8.8.8.8/#frag",
    "ftp://8.8.8.8/",
]


@pytest.mark.parametrize("url", REFUSED)
async def test_private_or_unsafe_urls_are_refused(
    api: Api, strict: httpx.AsyncClient, url: str
) -> None:
    clinic = await api.new_clinic()
    response = await strict.post("/v1/webhooks", json={"url": url}, headers=clinic.admin.headers)
    assert assert_problem(response, 422)["errors"][0]["loc"] == ["body", "url"]
    listed = await strict.get("/v1/webhooks", headers=clinic.admin.headers)
    assert listed.json()["items"] == []


async def test_patching_to_an_unsafe_url_keeps_the_old_one(
    api: Api, strict: httpx.AsyncClient
) -> None:
    clinic = await api.new_clinic()
    hook = await register(api, clinic, "https://8.8.8.8/hook", client=strict)  # public: accepted
    path = f"/v1/webhooks/{hook['id']}"
    for url in ("https://10.0.0.5/hook", "http://8.8.8.8/hook"):
        response = await strict.patch(path, json={"url": url}, headers=clinic.admin.headers)
        assert assert_problem(response, 422)["errors"][0]["loc"] == ["body", "url"]
    shown = await strict.get(path, headers=clinic.admin.headers)
    assert shown.json()["url"] == "https://8.8.8.8/hook"


async def test_a_sender_that_forbids_private_targets_does_not_send(
    api: Api, receiver: Receiver, database_url: str
) -> None:
    clinic = await api.new_clinic()
    hook = await register(api, clinic, receiver.url)  # allowed when it was registered
    await emergency_report(api, clinic)
    strict_worker = Worker(api.app.state.services, sender=Sender(strict_settings(database_url)))
    try:
        await strict_worker.run_until_idle()
    finally:
        await strict_worker.aclose()
    assert receiver.received == []
    (delivery,) = await deliveries(api, clinic, hook["id"])
    (attempt,) = delivery["attempts"]
    assert attempt["status_code"] is None and attempt["error"].startswith("not sent:")
    assert delivery["status"] == "pending"


async def test_invalid_registrations_are_refused(api: Api, receiver: Receiver) -> None:
    clinic = await api.new_clinic()
    url = receiver.url
    for body, field in [
        ({"url": url, "events": ["alert.deleted"]}, "events"),
        ({"url": url, "events": []}, "events"),
        ({"url": url, "colour": "red"}, "colour"),
        ({"url": url + "/" + "a" * 2048}, "url"),
        ({"events": ["alert.created"]}, "url"),
    ]:
        response = await api.client.post("/v1/webhooks", json=body, headers=clinic.admin.headers)
        problem = assert_problem(response, 422)
        assert problem["errors"][0]["loc"][:2] == ["body", field], problem
    listed = await api.client.get("/v1/webhooks", headers=clinic.admin.headers)
    assert listed.json()["items"] == []

    events = ["alert.created", "checkin.missed", "alert.created", "checkin.missed"]
    hook = await register(api, clinic, url, events=events)
    assert hook["events"] == ["alert.created", "checkin.missed"]
    patched = await api.client.patch(
        f"/v1/webhooks/{hook['id']}",
        json={"events": ["alert.resolved"] * 3},
        headers=clinic.admin.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["events"] == ["alert.resolved"]


async def test_links_are_absolute_with_a_public_base_url(api: Api, receiver: Receiver) -> None:
    clinic = await api.new_clinic()
    hook = await register(api, clinic, receiver.url)
    result = await emergency_report(api, clinic)
    services: Services = api.app.state.services
    base = "https://aftercare.example"
    linked = dataclasses.replace(
        services, settings=services.settings.model_copy(update={"public_base_url": base})
    )
    linked_worker = Worker(linked)
    try:
        await linked_worker.run_until_idle()
    finally:
        await linked_worker.aclose()
    (got,) = signed_for(hook, receiver)
    links = Webhook(hook["secret"]).verify(got.body, got.headers)["data"]["links"]
    alert = result["alerts"][0]
    assert links["alert"] == f"{base}/v1/alerts/{alert['id']}"
    full = await api.client.get(f"/v1/alerts/{alert['id']}", headers=clinic.clinician.headers)
    assert full.status_code == 200, full.text
    assert links["patient"] == f"{base}/v1/patients/{full.json()['patient_id']}"
    assert all(link.startswith(base + "/v1/") for link in links.values())


async def test_deliveries_are_listed_newest_first_in_pages(
    api: Api, receiver: Receiver, worker: Worker
) -> None:
    clinic = await api.new_clinic()
    receiver.statuses.append(500)  # the oldest stays pending, the others are delivered
    hook = await register(api, clinic, receiver.url)
    for reports in (1, 2, 1):  # two made in one pass share their created_at
        for _ in range(reports):
            await emergency_report(api, clinic)
        await worker.run_until_idle()
        api.clock.advance(timedelta(seconds=1))
    everything = await deliveries(api, clinic, hook["id"])
    assert len(everything) == 4
    created = [at(d["created_at"]) for d in everything]
    assert created == sorted(created, reverse=True) and len(set(created)) == 3
    assert [d["status"] for d in everything] == ["delivered"] * 3 + ["pending"]

    walked, cursor, pages = [], None, 0
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        response = await api.client.get(
            f"/v1/webhooks/{hook['id']}/deliveries", params=params, headers=clinic.admin.headers
        )
        assert response.status_code == 200, response.text
        walked += [d["id"] for d in response.json()["items"]]
        cursor, pages = response.json()["next_cursor"], pages + 1
        if cursor is None or pages > 10:
            break
    assert walked == [d["id"] for d in everything]

    pending = await deliveries(api, clinic, hook["id"], status="pending")
    assert [d["id"] for d in pending] == [everything[-1]["id"]]
    delivered = await deliveries(api, clinic, hook["id"], status="delivered")
    assert [d["id"] for d in delivered] == [d["id"] for d in everything[:3]]
    assert await deliveries(api, clinic, hook["id"], status="failed") == []
    listing = f"/v1/webhooks/{hook['id']}/deliveries"
    for params, status in (({"cursor": "Zm9v"}, 400), ({"status": "lost"}, 422)):
        response = await api.client.get(listing, params=params, headers=clinic.admin.headers)
        assert_problem(response, status)
