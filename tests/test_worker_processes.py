"""The real `aftercare worker` and `aftercare serve` processes, on the system clock, against a
real receiver on 127.0.0.1: two workers share 500 events without sending one twice, a worker
killed mid-batch loses nothing (its leases run out and another worker sends them), SIGTERM
stops gracefully, and `serve` runs the worker in-process unless `--no-worker`.

Each test gets a database of its own: the session's shared one holds other tests' work on
fake clocks, which a real-clock worker would find due."""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from app.core.config import Settings
from app.core.migrations import upgrade
from app.core.security import hash_password
from app.main import create_app
from app.outbox.service import add_event
from app.webhooks.models import WebhookDelivery
from tests.helpers import TEST_SECRET, insert_clinic, procedure_body, report_body
from tests.receiver import Receiver

EVENTS = 500


def aftercare_command() -> str:
    beside = Path(sys.executable).parent / "aftercare"
    found = str(beside) if beside.exists() else shutil.which("aftercare")
    assert found, "the `aftercare` console script is not installed"
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class Processes:
    """Starts `aftercare` subcommands with a clean environment; their output goes to files in
    a directory of their own under `output_root` (conftest's subprocess_output_dir, which the
    session's PHI hygiene check reads)."""

    def __init__(self, tmp_path: Path, url: str, output_root: Path, **env: str) -> None:
        self.tmp_path = tmp_path
        self.output = Path(tempfile.mkdtemp(prefix="procs-", dir=output_root))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
        self.env.update(
            AFTERCARE_DATABASE_URL=url,
            AFTERCARE_SECRET_KEY=TEST_SECRET,
            AFTERCARE_ALLOW_PRIVATE_WEBHOOKS="1",
            AFTERCARE_WORKER_POLL_SECONDS="0.2",
            **env,
        )
        self.started: list[tuple[subprocess.Popen[bytes], Path]] = []
        self.runs = 0

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = self.output / f"{args[0]}-{len(self.started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(  # cwd: no stray .env is read
                [aftercare_command(), *args],
                env=self.env,
                cwd=self.tmp_path,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.started.append((process, log))
        return process

    def run(self, *args: str, timeout: float = 60) -> str:
        self.runs += 1
        stdout = self.output / f"run-{self.runs}-{args[0]}.stdout"
        stderr = self.output / f"run-{self.runs}-{args[0]}.stderr"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            done = subprocess.run(
                [aftercare_command(), *args],
                env=self.env,
                cwd=self.tmp_path,
                stdout=out,
                stderr=err,
                timeout=timeout,
                check=False,
            )
        assert done.returncode == 0, stderr.read_text(errors="replace")[-3000:]
        return stdout.read_text()

    def tail(self, process: subprocess.Popen[bytes] | None = None) -> str:
        logs = [log for p, log in self.started if process is None or p is process]
        return "\n".join(
            f"--- {log.name}:\n{log.read_text(errors='replace')[-3000:]}" for log in logs
        )

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 20) -> int | None:
        """SIGTERM, then the exit status within `timeout` (None: it did not stop)."""
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill_all(self) -> None:
        for process, _ in self.started:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


def wait_until(check: Callable[[], bool], timeout: float, every: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return check()


async def seed(url: str, receiver_url: str, count: int) -> list[str]:
    """A clinic whose admin registers the receiver through the API, then `count` events
    written by the app's own outbox writer, due now on the system clock."""
    settings = Settings(
        database_url=url, secret_key=TEST_SECRET, db_pool_size=2, allow_private_webhooks=True
    )
    app = create_app(settings)
    services = app.state.services
    async with app.router.lifespan_context(app):
        now = datetime.now(UTC)
        clinic = await insert_clinic(services.db, now, await hash_password("a-long-password-1"))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://aftercare.test") as c:
            hook = await c.post(
                "/v1/webhooks", json={"url": receiver_url}, headers=clinic.admin.headers
            )
            assert hook.status_code == 201, hook.text
        async with services.db.write() as session:
            events = [
                add_event(session, clinic.clinic_id, "alert.created", {"n": i, "links": {}}, now)
                for i in range(count)
            ]
    return [str(event.id) for event in events]


async def delivery_statuses(url: str) -> Counter[str]:
    settings = Settings(database_url=url, secret_key=TEST_SECRET, db_pool_size=1)
    app = create_app(settings)
    async with app.router.lifespan_context(app), app.state.services.db.read() as session:
        rows = await session.execute(
            select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
        )
        return Counter({status: count for status, count in rows.tuples()})


def fresh_postgres(empty_database_factory: Any) -> str:
    url: str = empty_database_factory("postgresql")
    asyncio.run(upgrade(url))
    return url


@pytest.mark.postgres_only
def test_two_workers_share_500_events_once_each_and_stop_on_sigterm(
    backend: str,
    empty_database_factory: Any,
    receiver: Receiver,
    tmp_path: Path,
    subprocess_output_dir: Path,
) -> None:
    url = fresh_postgres(empty_database_factory)
    receiver.delay = 0.005
    event_ids = asyncio.run(seed(url, receiver.url, EVENTS))
    procs = Processes(tmp_path, url, subprocess_output_dir, AFTERCARE_WORKER_CONCURRENCY="16")
    try:
        workers = [procs.start("worker"), procs.start("worker")]
        arrived = receiver.wait_for(EVENTS, timeout=90)
        assert arrived, f"{len(set(receiver.ids()))} of {EVENTS} arrived\n{procs.tail()}"
        for worker in workers:
            code = procs.stop(worker)
            assert code == 0, f"exit {code} after SIGTERM\n{procs.tail(worker)}"
    finally:
        procs.kill_all()

    received = receiver.ids()
    assert set(received) == set(event_ids)
    assert receiver.overlaps == []
    twice = {i: n for i, n in Counter(received).items() if n > 1}
    assert twice == {}, f"sent more than once without any crash: {twice}"
    assert asyncio.run(delivery_statuses(url)) == {"delivered": EVENTS}


@pytest.mark.postgres_only
def test_a_worker_killed_mid_batch_loses_nothing(
    backend: str,
    empty_database_factory: Any,
    receiver: Receiver,
    tmp_path: Path,
    subprocess_output_dir: Path,
) -> None:
    url = fresh_postgres(empty_database_factory)
    receiver.delay = 0.02
    event_ids = asyncio.run(seed(url, receiver.url, EVENTS))
    procs = Processes(
        tmp_path,
        url,
        subprocess_output_dir,
        AFTERCARE_WEBHOOK_LEASE_SECONDS="3",
        AFTERCARE_WEBHOOK_TIMEOUT_SECONDS="1",
        AFTERCARE_WORKER_CONCURRENCY="8",
    )
    try:
        first = procs.start("worker")
        reached = wait_until(lambda: len(set(receiver.ids())) >= 100, timeout=60, every=0.005)
        assert reached, f"worker A sent {len(set(receiver.ids()))}\n{procs.tail(first)}"
        os.kill(first.pid, signal.SIGKILL)
        at_kill = len(set(receiver.ids()))
        first.wait(timeout=10)
        assert at_kill < EVENTS, "worker A finished before it could be killed mid-batch"

        second = procs.start("worker")
        arrived = receiver.wait_for(EVENTS, timeout=90)
        assert arrived, f"{len(set(receiver.ids()))} of {EVENTS} arrived\n{procs.tail()}"
        settled = wait_until(
            lambda: asyncio.run(delivery_statuses(url)) == {"delivered": EVENTS},
            timeout=20,
            every=0.5,
        )
        statuses = asyncio.run(delivery_statuses(url))
        assert settled, f"{statuses}\n{procs.tail(second)}"
        code = procs.stop(second)
        assert code == 0, f"exit {code} after SIGTERM\n{procs.tail(second)}"
    finally:
        procs.kill_all()

    received = receiver.ids()
    assert set(received) == set(event_ids), "events were lost"
    duplicates = len(received) - len(set(received))
    # At least once: what A had in flight (8 at most) when it died may be sent again; B, whose
    # sends end within the 1 s timeout, never outlives its 3 s lease (margin for a slow host).
    assert duplicates <= 2 * 8, f"{duplicates} sent twice; A was killed after {at_kill}"


def login_and_register(base: str, email: str, password: str, hook_url: str) -> dict[str, Any]:
    token = httpx.post(f"{base}/v1/auth/token", data={"username": email, "password": password})
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    hook = httpx.post(f"{base}/v1/webhooks", json={"url": hook_url}, headers=headers)
    assert hook.status_code == 201, hook.text
    return {"headers": headers, "hook": hook.json()}


def emergency_report(base: str, headers: dict[str, str]) -> None:
    patient = httpx.post(
        f"{base}/v1/patients",
        json={
            "mrn": f"MRN-{uuid.uuid4().hex[:10]}",
            "display_name": "Alex Doe",
            "timezone": "Europe/Berlin",
            "temperature_unit": "C",
        },
        headers=headers,
    )
    assert patient.status_code == 201, patient.text
    now = datetime.now(UTC).astimezone()  # RFC 3339 with the local offset
    body = procedure_body(performed_at=(now - timedelta(minutes=30)).isoformat())
    procedure = httpx.post(
        f"{base}/v1/patients/{patient.json()['id']}/procedures", json=body, headers=headers
    )
    assert procedure.status_code == 201, procedure.text
    report = report_body(
        recorded_at=now.isoformat(),
        side_effects=[{"kind": "breathing_difficulty", "severity": "mild"}],
    )
    posted = httpx.post(
        f"{base}/v1/procedures/{procedure.json()['id']}/reports", json=report, headers=headers
    )
    assert posted.status_code == 201, posted.text
    assert [a["severity"] for a in posted.json()["alerts"]] == ["emergency"]


@pytest.mark.parametrize("no_worker", [False, True], ids=["with-worker", "no-worker"])
def test_serve_runs_the_worker_in_process_unless_told_not_to(
    no_worker: bool, receiver: Receiver, tmp_path: Path, subprocess_output_dir: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}"
    procs = Processes(tmp_path, url, subprocess_output_dir)
    email, password = "a@clinic.example", "a-long-password-1"
    procs.run("create-admin", "--clinic", "X", "--email", email, "--password", password)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    try:
        server = procs.start("serve", "--port", str(port), *(["--no-worker"] if no_worker else []))

        def ready() -> bool:
            assert server.poll() is None, f"serve exited\n{procs.tail(server)}"
            try:
                return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_until(ready, timeout=30, every=0.2), procs.tail(server)
        made = login_and_register(base, email, password, receiver.url)
        emergency_report(base, made["headers"])

        if no_worker:
            time.sleep(3)  # real time: nothing in the process may send
            assert receiver.received == [], procs.tail(server)
            deliveries = httpx.get(
                f"{base}/v1/webhooks/{made['hook']['id']}/deliveries", headers=made["headers"]
            )
            assert deliveries.status_code == 200, deliveries.text
            assert [d for d in deliveries.json()["items"] if d["status"] != "pending"] == []
            assert all(d["attempt_count"] == 0 for d in deliveries.json()["items"])
        else:
            assert receiver.wait_for(1, timeout=10), procs.tail(server)
            (got,) = receiver.received
            event = Webhook(made["hook"]["secret"]).verify(got.body, got.headers)
            assert event["type"] == "alert.created"
            assert event["data"]["severity"] == "emergency"
        # uvicorn shuts down gracefully, then re-raises the signal it caught: -SIGTERM.
        code = procs.stop(server)
        assert code in (0, -signal.SIGTERM), f"exit {code}\n{procs.tail(server)}"
        assert "Application shutdown complete" in procs.tail(server), procs.tail(server)
    finally:
        procs.kill_all()
