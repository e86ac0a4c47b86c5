"""Throttles at the edge: sign-in per account and per address with a growing back-off, the
patient's reports per caller, and the bound on concurrent password hashes.

The counters move with the wall clock (app/core/ratelimit.py says why), so the back-off test
moves it with time-machine instead of sleeping; the app's injected clock plays no part here.
"""

import asyncio
import os
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import coredis
import httpx
import pytest
import time_machine
from limits.aio.storage import MemoryStorage, RedisStorage
from sqlalchemy import select

from app.audit.models import AuditEvent
from app.core import security
from app.core.config import Settings
from app.core.ratelimit import Throttle
from app.main import create_app
from tests.helpers import TEST_SECRET, WORLD_PASSWORD, Api, report_body
from tests.phi_guard import LogCapture
from tests.problems import assert_problem
from tests.test_integrations import TOKEN, basic, new_client

pytestmark = pytest.mark.anyio

REDIS_URL = os.environ.get("AFTERCARE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_REDIS = os.environ.get("AFTERCARE_REQUIRE_REDIS", "") == "1"
BAD_CODE = "ZZZZ-ZZZZ-ZZZZ"


@pytest.fixture
def limits() -> dict[str, Any]:
    """The limits of the test's app: the shipped defaults unless a test parametrizes this."""
    return {}


@pytest.fixture
def settings(database_url: str, limits: dict[str, Any]) -> Settings:
    return Settings(database_url=database_url, secret_key=TEST_SECRET, db_pool_size=5, **limits)


@asynccontextmanager
async def client_at(app: Any, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client the app sees coming from `address`."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://aftercare.test") as client:
        yield client


async def login(client: httpx.AsyncClient, email: str | None, password: str) -> httpx.Response:
    return await client.post("/v1/auth/token", data={"username": email, "password": password})


def assert_throttled(response: httpx.Response) -> int:
    assert_problem(response, 429)
    return int(response.headers["retry-after"])


async def test_sixth_wrong_password_is_429_while_another_account_signs_in(api: Api) -> None:
    clinic = await api.new_clinic()
    target, other = clinic.admin.email, clinic.clinician.email
    # The throttle's window is wall-clock time, and five argon2 checks on a loaded machine
    # can take seconds: with the clock held still the wait is the whole minute.
    with time_machine.travel(api.clock.now(), tick=False):
        for _ in range(5):
            assert (await login(api.client, target, "wrong-password-1")).status_code == 400
        assert 59 <= assert_throttled(await login(api.client, target, "wrong-password-1")) <= 60
        # Locked: even the right password is refused, unchecked, until the window has passed.
        assert_throttled(await login(api.client, target, WORLD_PASSWORD))
        assert_throttled(await login(api.client, target.upper(), WORLD_PASSWORD))
        assert (await login(api.client, other, WORLD_PASSWORD)).status_code == 200


async def test_unknown_accounts_lock_as_known_ones_do(api: Api) -> None:
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@clinic.example"
    statuses = [(await login(api.client, nobody, "wrong-password-1")).status_code for _ in range(6)]
    assert statuses == [400] * 5 + [429]


async def test_the_lockout_doubles_with_each_further_failure(api: Api) -> None:
    email = (await api.new_clinic()).clinician.email
    waits = []
    with time_machine.travel(api.clock.now(), tick=False) as traveller:
        for attempts in (5, 1, 1, 1):
            for _ in range(attempts):
                assert (await login(api.client, email, "wrong-password-1")).status_code == 400
            wait = assert_throttled(await login(api.client, email, "wrong-password-1"))
            waits.append(wait)
            traveller.shift(wait + 1)
        assert (await login(api.client, email, WORLD_PASSWORD)).status_code == 200
    # Failures at 0 s (5), 61, 121, 241: each lockout lasts until the oldest failure leaves a
    # window twice as long as the one before.
    assert waits == [60, 59, 119, 239]


async def test_a_successful_sign_in_clears_the_accounts_failures(api: Api) -> None:
    email = (await api.new_clinic()).admin.email
    for _ in range(4):
        assert (await login(api.client, email, "wrong-password-1")).status_code == 400
    assert (await login(api.client, email, WORLD_PASSWORD)).status_code == 200
    for _ in range(4):
        assert (await login(api.client, email, "wrong-password-1")).status_code == 400


@pytest.mark.parametrize("limits", [{"auth_attempts_per_address_per_minute": 3}])
@pytest.mark.parametrize("endpoint", ["enroll", "refresh"])
async def test_an_address_is_throttled_and_others_are_not(api: Api, endpoint: str) -> None:
    path, body = {
        "enroll": ("/v1/auth/enroll", {"code": BAD_CODE}),
        "refresh": ("/v1/auth/refresh", {"refresh_token": "not-a-token"}),
    }[endpoint]
    wrong = 400 if endpoint == "enroll" else 401
    async with (
        client_at(api.app, "203.0.113.7") as noisy,
        client_at(api.app, "198.51.100.9") as quiet,
    ):
        assert [(await noisy.post(path, json=body)).status_code for _ in range(3)] == [wrong] * 3
        assert 55 <= assert_throttled(await noisy.post(path, json=body)) <= 60
        assert (await quiet.post(path, json=body)).status_code == wrong
        if endpoint == "enroll":  # a good code from the noisy address waits its turn too
            patient = await api.create_patient(api.world.a.clinician)
            code = await api.client.post(
                f"/v1/patients/{patient['id']}/enrollment-codes",
                headers=api.world.a.clinician.headers,
            )
            assert_throttled(await noisy.post(path, json={"code": code.json()["code"]}))
            assert (await quiet.post(path, json={"code": code.json()["code"]})).status_code == 200


@pytest.mark.parametrize("limits", [{"auth_attempts_per_address_per_minute": 6}])
async def test_client_failures_throttle_their_address_and_never_lock_out_the_client(
    api: Api,
) -> None:
    """A client id is no secret: failures under it from one address must not lock the clinic's
    integration out everywhere, nor count against a staff account spelt the same."""
    client = await new_client(api, api.world.a.admin, ["patients:read"])
    grant = {"grant_type": "client_credentials"}
    wrong = basic(client["client_id"], "not-the-secret")
    right = basic(client["client_id"], client["client_secret"])
    with time_machine.travel(api.clock.now(), tick=False):
        async with (
            client_at(api.app, "203.0.113.7") as noisy,
            client_at(api.app, "198.51.100.9") as quiet,
        ):
            failures = [(await noisy.post(TOKEN, data=grant, headers=wrong)) for _ in range(6)]
            assert [r.status_code for r in failures] == [401] * 6
            assert (await quiet.post(TOKEN, data=grant, headers=right)).status_code == 200
            # The noisy address has used its attempts (6 a minute); the staff account lockout
            # (5 failures) would have refused the sixth and the quiet address too.
            assert_throttled(await noisy.post(TOKEN, data=grant, headers=right))


@pytest.mark.parametrize("limits", [{"auth_attempts_per_address_per_minute": 3}])
async def test_a_throttled_address_is_refused_before_its_body_is_read(api: Api) -> None:
    """SignInGate: once the address is refused, its requests are answered 429 before the
    body is parsed (a body that is not even JSON is not a 422), and the quiet address still
    gets the route's own answer."""
    path, garbage = "/v1/auth/enroll", b"{not json"
    headers = {"content-type": "application/json"}
    async with (
        client_at(api.app, "203.0.113.8") as noisy,
        client_at(api.app, "198.51.100.10") as quiet,
    ):
        for _ in range(3):
            assert (await noisy.post(path, json={"code": BAD_CODE})).status_code == 400
        assert assert_throttled(await noisy.post(path, content=garbage, headers=headers)) >= 55
        assert (await quiet.post(path, content=garbage, headers=headers)).status_code == 422


@pytest.mark.parametrize("limits", [{"reports_per_caller_per_minute": 3}])
async def test_reports_per_caller_are_limited(api: Api) -> None:
    patient, procedure = await api.patient_with_procedure(api.world.a)
    other, other_procedure = await api.patient_with_procedure(api.world.a)
    reports = f"/v1/procedures/{procedure['id']}/reports"
    for _ in range(2):
        assert (await api.post_report(patient, procedure["id"], report_body())).status_code == 201
    batch = {"reports": [report_body(), report_body()]}
    assert_throttled(await api.client.post(f"{reports}/batch", json=batch, headers=patient.headers))
    assert (await api.post_report(patient, procedure["id"], report_body())).status_code == 201
    assert_throttled(await api.post_report(patient, procedure["id"], report_body()))
    stored = await api.client.get(reports, headers=patient.headers)
    assert len(stored.json()["items"]) == 3  # nothing of the refused ones
    # Another caller has an allowance of its own; a batch larger than the allowance still
    # fits in an empty minute (it counts as the whole allowance).
    big = {"reports": [report_body() for _ in range(5)]}
    other_batch = f"/v1/procedures/{other_procedure['id']}/reports/batch"
    response = await api.client.post(other_batch, json=big, headers=other.headers)
    assert response.status_code == 200, response.text
    assert_throttled(await api.post_report(other, other_procedure["id"], report_body()))


@pytest.mark.parametrize(
    "limits", [{"password_hash_concurrency": 2, "auth_attempts_per_address_per_minute": 1000}]
)
async def test_password_hashes_queue_under_a_bound_and_the_overflow_is_503(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    running, peak, lock = 0, 0, threading.Lock()
    real_verify: Callable[[str, str], bool] = security._passwords.verify

    def counting_verify(password: str, password_hash: str) -> bool:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            return real_verify(password, password_hash)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(security._passwords, "verify", counting_verify)
    emails = [f"nobody-{uuid.uuid4().hex[:8]}@clinic.example" for _ in range(30)]
    answers = await asyncio.gather(*(login(api.client, e, "wrong-password-1") for e in emails))
    statuses = [a.status_code for a in answers]
    # Unknown users cost a full verification each (no enumeration by timing), never more
    # than two at once; the queue holds 8 a slot, and the rest are told to come back.
    assert peak == 2
    assert set(statuses) == {400, 503} and statuses.count(400) >= 2 + 2 * 8
    busy = next(a for a in answers if a.status_code == 503)
    assert_problem(busy, 503)
    assert int(busy.headers["retry-after"]) >= 1


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own on the shared Redis; its keys are deleted after."""
    client: coredis.Redis[bytes] = coredis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (coredis.exceptions.ConnectionError, OSError):
        if REQUIRE_REDIS:
            pytest.fail(f"AFTERCARE_REQUIRE_REDIS=1 but {REDIS_URL} is unreachable")
        pytest.skip(f"Redis is not reachable on {REDIS_URL}")
    prefix = f"aftercare-test-{uuid.uuid4().hex}"
    try:
        yield prefix
    finally:
        keys: list[str | bytes] = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(keys)


async def test_two_instances_sharing_redis_share_the_counters(
    api: Api, settings: Settings, redis_prefix: str
) -> None:
    shared = settings.model_copy(update={"rate_limit_url": REDIS_URL})
    first, second = create_app(shared, api.clock), create_app(shared, api.clock)
    assert isinstance(api.app.state.services.throttle.storage, MemoryStorage)
    assert isinstance(first.state.services.throttle.storage, RedisStorage)
    for app in (first, second):  # the test's own keys, so runs never meet
        app.state.services.throttle = Throttle.connect(REDIS_URL, prefix=redis_prefix)
    clinic = await api.new_clinic()
    address = f"192.0.2.{uuid.uuid4().int % 250 + 1}"
    async with (
        first.router.lifespan_context(first),
        second.router.lifespan_context(second),
        client_at(first, address) as one,
        client_at(second, address) as two,
    ):
        for client in (one, two, one, two, one):
            assert (await login(client, clinic.admin.email, "wrong-password-1")).status_code == 400
        assert_throttled(await login(two, clinic.admin.email, "wrong-password-1"))
        assert_throttled(await login(one, clinic.admin.email, WORLD_PASSWORD))
        assert (await login(two, clinic.clinician.email, WORLD_PASSWORD)).status_code == 200


async def test_a_throttled_request_is_logged_but_not_audited(
    api: Api, captured_logs: LogCapture
) -> None:
    """A flood of refusals must not become as many rows of an append-only, six-year table;
    the 400s before the lockout are audited as every refusal is."""
    log_start = len(captured_logs.lines)
    email = f"nobody-{uuid.uuid4().hex[:8]}@clinic.example"
    request_ids = [uuid.uuid4().hex for _ in range(6)]
    for request_id in request_ids:
        headers = {"x-request-id": request_id}
        data = {"username": email, "password": "wrong-password-1"}
        response = await api.client.post("/v1/auth/token", data=data, headers=headers)
    assert_throttled(response)
    async with api.db.read() as session:
        found = await session.scalars(
            select(AuditEvent.status).where(AuditEvent.request_id.in_(request_ids))
        )
        assert sorted(found) == [400] * 5
    assert f"request_id={request_ids[-1]}" in captured_logs.text(log_start)


async def test_wrong_current_passwords_lock_the_account_as_sign_in_failures_do(api: Api) -> None:
    """A stolen token must not buy unlimited guesses at the password it cannot change."""
    clinic = await api.new_clinic()
    body = {"current_password": "wrong-password-1", "new_password": "a quite new password 2026"}
    statuses = [
        (
            await api.client.post("/v1/me/password", json=body, headers=clinic.admin.headers)
        ).status_code
        for _ in range(6)
    ]
    assert statuses == [422] * 5 + [429]
    # The same secret is being guessed: sign-in for the account is locked too.
    assert_throttled(await login(api.client, clinic.admin.email, WORLD_PASSWORD))
    assert (await login(api.client, clinic.clinician.email, WORLD_PASSWORD)).status_code == 200


@pytest.mark.parametrize("limits", [{"rate_limit_url": "redis://127.0.0.1:1/0"}])
async def test_a_counter_store_that_fails_lets_requests_through(
    api: Api, captured_logs: LogCapture
) -> None:
    """Nothing answers on port 1: a sign-in and a report still go through (a red flag must
    not depend on Redis), and the log says so by the error's type only."""
    log_start = len(captured_logs.lines)
    clinic = await api.new_clinic()
    assert (await login(api.client, clinic.admin.email, WORLD_PASSWORD)).status_code == 200
    patient, procedure = await api.patient_with_procedure(clinic)
    assert (await api.post_report(patient, procedure["id"], report_body())).status_code == 201
    assert "rate limit storage unavailable" in captured_logs.text(log_start)
