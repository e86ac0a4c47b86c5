"""Several instances on one PostgreSQL: two `aftercare serve --no-worker` and two `aftercare
worker` processes, real subprocesses on the system clock, against a fresh database and a real
receiver on 127.0.0.1.

Staff and patients work through both APIs at once (a token issued by one is honoured by the
other: the signing keys are in the database; the report throttle counts across both: its
counters are in Redis). Then every outbox event reaches the receiver exactly once, never two
sends of one event at the same time, and each overdue alert escalates once although both
workers look for it."""

import asyncio
import os
import signal
import socket
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from standardwebhooks.webhooks import Webhook

from app.core.db import Database
from app.core.migrations import upgrade
from app.core.security import hash_password
from app.staff.models import Clinic, StaffUser
from tests.helpers import procedure_body, report_body
from tests.problems import assert_problem
from tests.receiver import Receiver
from tests.test_worker_processes import Processes, free_port, wait_until

REDIS_URL = os.environ.get("AFTERCARE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REQUIRE_REDIS = os.environ.get("AFTERCARE_REQUIRE_REDIS", "") == "1"
PASSWORD = "a-long-password-1"
PATIENTS = 6
REPORTS_EACH = 10  # 60 reports, 18 of them raising an alert
RED_FLAGS = {0: "breathing_difficulty", 4: "rash_or_itching", 7: "blood_in_urine"}
SETTLE_SECONDS = 60
# Four interpreters importing the app at once take seconds each on an idle machine, far
# longer on a busy one.
START_SECONDS = 120


def redis_reachable() -> None:
    parts = urlsplit(REDIS_URL)
    try:
        socket.create_connection((parts.hostname, parts.port or 6379), timeout=2).close()
    except OSError:
        if REQUIRE_REDIS:
            pytest.fail(f"AFTERCARE_REQUIRE_REDIS=1 but {REDIS_URL} is unreachable")
        pytest.skip(f"Redis is not reachable on {REDIS_URL}")


async def seed_clinic(url: str) -> str:
    """A clinic and its admin, as `aftercare create-admin` makes them; no token is minted, so
    the deployment's signing key is the one the first `serve` generates in the database."""
    db = Database(url, pool_size=1)
    now = datetime.now(UTC)
    email = f"admin-{uuid.uuid4().hex[:10]}@clinic.example"
    try:
        async with db.write() as session:
            clinic = Clinic(id=uuid.uuid4(), name="Clinic scale-out", created_at=now)
            session.add(clinic)
            await session.flush()
            session.add(
                StaffUser(
                    id=uuid.uuid4(),
                    clinic_id=clinic.id,
                    email=email,
                    name="Admin",
                    role="admin",
                    password_hash=await hash_password(PASSWORD),
                    created_at=now,
                )
            )
    finally:
        await db.dispose()
    return email


def start_instances(procs: Processes, meanwhile: Callable[[], None]) -> list[str]:
    """Starts both APIs and both workers, runs `meanwhile` while they boot, and returns the
    APIs' base URLs once both answer /readyz and both workers run."""
    ports = [free_port(), free_port()]
    servers = [procs.start("serve", "--no-worker", "--port", str(port)) for port in ports]
    workers = [procs.start("worker"), procs.start("worker")]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    meanwhile()

    def ready() -> bool:
        for process in (*servers, *workers):
            assert process.poll() is None, f"a process exited\n{procs.tail(process)}"
        try:
            answers = [httpx.get(f"{base}/readyz", timeout=2).status_code for base in bases]
        except httpx.HTTPError:
            return False
        return answers == [200, 200] and all(
            "worker started" in procs.tail(worker) for worker in workers
        )

    assert wait_until(ready, timeout=START_SECONDS, every=0.2), procs.tail()
    return bases


@dataclass
class Traffic:
    hook: dict[str, Any]
    staff: dict[str, str]
    patients: list[dict[str, str]]  # each patient app's headers
    procedures: list[str]


async def enrol(bases: list[str], client: httpx.AsyncClient, hook_url: str, email: str) -> Traffic:
    """Sign in at one API and work at the other; patients get their codes from one and enrol
    at the other."""
    a, b = bases
    token = await client.post(f"{a}/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert token.status_code == 200, token.text
    staff = {"Authorization": f"Bearer {token.json()['access_token']}"}
    hook = await client.post(f"{b}/v1/webhooks", json={"url": hook_url}, headers=staff)
    assert hook.status_code == 201, hook.text
    patients, procedures = [], []
    performed = datetime.now(UTC) - timedelta(hours=2)
    for n in range(PATIENTS):
        here, there = bases[n % 2], bases[(n + 1) % 2]
        body = {
            "mrn": f"MRN-{uuid.uuid4().hex[:10]}",
            "display_name": "Alex Doe",
            "timezone": "Europe/Berlin",
            "temperature_unit": "C",
        }
        patient = await client.post(f"{here}/v1/patients", json=body, headers=staff)
        assert patient.status_code == 201, patient.text
        pid = patient.json()["id"]
        block = procedure_body(performed_at=performed.isoformat())
        procedure = await client.post(
            f"{there}/v1/patients/{pid}/procedures", json=block, headers=staff
        )
        assert procedure.status_code == 201, procedure.text
        procedures.append(procedure.json()["id"])
        code = await client.post(f"{here}/v1/patients/{pid}/enrollment-codes", headers=staff)
        assert code.status_code == 201, code.text
        app = await client.post(f"{there}/v1/auth/enroll", json={"code": code.json()["code"]})
        assert app.status_code == 200, app.text
        patients.append({"Authorization": f"Bearer {app.json()['access_token']}"})
    return Traffic(hook.json(), staff, patients, procedures)


def nth_report(n: int) -> dict[str, Any]:
    kind = RED_FLAGS.get(n, "soreness")
    recorded = datetime.now(UTC) - timedelta(minutes=REPORTS_EACH - n)
    return report_body(
        recorded_at=recorded.isoformat(),
        side_effects=[{"kind": kind, "severity": "mild"}],
        temperature={"value": 36.8, "unit": "C"},
    )


async def post_reports(bases: list[str], client: httpx.AsyncClient, traffic: Traffic) -> int:
    """Every patient's reports at once, alternating APIs; returns how many alerts they raised."""

    async def post(i: int, n: int) -> httpx.Response:
        base = bases[(i + n) % 2]
        url = f"{base}/v1/procedures/{traffic.procedures[i]}/reports"
        return await client.post(url, json=nth_report(n), headers=traffic.patients[i])

    posts = [post(i, n) for i in range(PATIENTS) for n in range(REPORTS_EACH)]
    answers = await asyncio.gather(*posts)
    assert [r.status_code for r in answers] == [201] * len(posts), [r.text for r in answers][:3]
    return sum(len(r.json()["alerts"]) for r in answers)


async def shared_throttle(bases: list[str], client: httpx.AsyncClient, traffic: Traffic) -> None:
    """The allowance is REPORTS_EACH + 2 a minute, counted in Redis: two more reports go
    through, then neither API takes another (alone, each has counted about half)."""
    url = f"/v1/procedures/{traffic.procedures[0]}/reports"
    answers = [
        await client.post(f"{base}{url}", json=nth_report(1), headers=traffic.patients[0])
        for base in (*bases, *bases)
    ]
    assert [r.status_code for r in answers[:2]] == [201, 201]
    for refused in answers[2:]:
        assert_problem(refused, 429)
        assert int(refused.headers["retry-after"]) > 0


async def act_on_alerts(bases: list[str], client: httpx.AsyncClient, traffic: Traffic) -> None:
    """One alert acknowledged at both APIs at once: one of the two wins, the other is told it
    is no longer open. Another alert is resolved."""
    alerts = await client.get(f"{bases[0]}/v1/alerts", headers=traffic.staff)
    assert alerts.status_code == 200, alerts.text
    first, second = [a["id"] for a in alerts.json()["items"][:2]]
    both = await asyncio.gather(
        *(
            client.post(f"{base}/v1/alerts/{first}/acknowledge", headers=traffic.staff)
            for base in bases
        )
    )
    assert sorted(r.status_code for r in both) == [200, 409]
    assert_problem(max(both, key=lambda r: r.status_code), 409)
    resolved = await client.post(
        f"{bases[1]}/v1/alerts/{second}/resolve",
        json={"note": "Called back."},
        headers=traffic.staff,
    )
    assert resolved.status_code == 200, resolved.text


async def work(bases: list[str], hook_url: str, email: str) -> Traffic:
    async with httpx.AsyncClient(timeout=30) as client:
        traffic = await enrol(bases, client, hook_url, email)
        alerts_raised = await post_reports(bases, client, traffic)
        assert alerts_raised == PATIENTS * len(RED_FLAGS)
        await shared_throttle(bases, client, traffic)
        await act_on_alerts(bases, client, traffic)
    return traffic


def make_escalations_due(url: str) -> set[str]:
    """Every alert with a deadline, and the acted-on ones, are past it now: a clinic's delay
    is a minute at least, too long to wait for. Returns the alerts that must escalate."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "UPDATE alerts SET escalate_at = %s WHERE escalate_at IS NOT NULL OR status <> 'open'"
            " RETURNING id, status",
            (datetime.now(UTC) - timedelta(seconds=1),),
        ).fetchall()
    return {str(alert_id) for alert_id, status in rows if status == "open"}


def outbox(url: str) -> dict[str, Any]:
    """The database's side: the only clinic's events (its one endpoint takes every type)."""
    with psycopg.connect(url) as conn:
        events = conn.execute("SELECT id, type, dispatched_at FROM outbox_events").fetchall()
        deliveries = conn.execute(
            "SELECT status, attempt_count, count(*) FROM webhook_deliveries GROUP BY 1, 2"
        ).fetchall()
        escalated = conn.execute(
            "SELECT data->>'alert_id' FROM outbox_events WHERE type = 'alert.escalated'"
        ).fetchall()
        marked = conn.execute("SELECT id FROM alerts WHERE escalated_at IS NOT NULL").fetchall()
    return {
        "events": {str(i) for i, _, _ in events},
        "types": Counter(t for _, t, _ in events),
        "undispatched": sum(d is None for _, _, d in events),
        "deliveries": {(s, n): c for s, n, c in deliveries},
        "escalated": Counter(a for (a,) in escalated),
        "marked": {str(a) for (a,) in marked},
    }


@pytest.mark.slow
@pytest.mark.postgres_only
def test_two_apis_and_two_workers_on_one_postgres_deliver_each_event_once(
    backend: str,
    empty_database_factory: Any,
    receiver: Receiver,
    tmp_path: Path,
    subprocess_output_dir: Path,
) -> None:
    redis_reachable()
    url: str = empty_database_factory("postgresql")  # dropped at the session's end
    plain_url = url.replace("postgresql+psycopg://", "postgresql://")  # asyncpg, as deployed
    receiver.delay = 0.01
    procs = Processes(
        tmp_path,
        plain_url,
        subprocess_output_dir,
        AFTERCARE_DB_POOL_SIZE="3",
        AFTERCARE_RATE_LIMIT_URL=REDIS_URL,
        AFTERCARE_REPORTS_PER_CALLER_PER_MINUTE=str(REPORTS_EACH + 2),
        AFTERCARE_AUTH_ATTEMPTS_PER_ADDRESS_PER_MINUTE="10000",  # reruns share 127.0.0.1's count
    )
    procs.env.pop("AFTERCARE_SECRET_KEY")  # the first `serve` makes the key, in the database
    emails: list[str] = []

    def migrate_and_seed() -> None:
        # While the four boot and migrate too: the migration lock makes them take turns.
        asyncio.run(upgrade(url))
        emails.append(asyncio.run(seed_clinic(url)))

    try:
        bases = start_instances(procs, migrate_and_seed)
        email = emails[0]
        traffic = asyncio.run(work(bases, receiver.url, email))
        due = make_escalations_due(plain_url)
        assert len(due) == PATIENTS * len(RED_FLAGS) - 2  # all but the two acted on

        def settled() -> bool:
            now = outbox(plain_url)
            sent = now["deliveries"].get(("delivered", 1), 0)
            return (
                now["marked"] >= due
                and not now["undispatched"]
                and sent == len(now["events"])
                and set(receiver.ids()) >= now["events"]
            )

        assert wait_until(settled, timeout=SETTLE_SECONDS, every=0.5), (
            f"{outbox(plain_url)}\n{procs.tail()}"
        )
        for process, _ in list(procs.started):
            code = procs.stop(process)
            assert code in (0, -signal.SIGTERM), f"exit {code}\n{procs.tail(process)}"
    finally:
        procs.kill_all()

    final = outbox(plain_url)
    received = receiver.ids()
    assert set(received) == final["events"], "an event was lost or one was made up"
    assert [i for i, n in Counter(received).items() if n > 1] == [], "an event was sent twice"
    assert receiver.overlaps == []
    assert final["deliveries"] == {("delivered", 1): len(final["events"])}
    assert final["escalated"] == Counter(due), "each due alert escalates once, and only those"
    assert final["marked"] == due
    assert final["types"]["alert.acknowledged"] == 1
    secret = traffic.hook["secret"]
    for got in receiver.received:  # both workers sign with the endpoint's one secret
        Webhook(secret).verify(got.body, got.headers)
