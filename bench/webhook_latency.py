"""From report POST to webhook received, and how many events one worker delivers per second.

    .venv/bin/python bench/webhook_latency.py [--rate 50] [--duration 30] [--events 5000]
        [--database postgresql|sqlite] [--separate-worker]

1. Latency: starts the real `aftercare serve` (worker in-process, default polling), registers
   a webhook at a receiver on 127.0.0.1 (tests/receiver.py), and posts emergency reports at
   `--rate` per second (open loop: each request leaves on schedule, whatever the previous ones
   did), each to its own block so each raises a new alert and one `alert.created` event. The
   latency of an event is from the moment its POST left to the moment the receiver had the
   webhook. Prints p50/p90/p99/max of that and of the POST itself.
2. Throughput: with the server stopped, writes `--events` events to the outbox with the app's
   own writer, starts `aftercare worker` alone, and times the receiver's first to last arrival.

Needs PostgreSQL on 127.0.0.1:5432 (trust) for the default `--database postgresql`; the
database it creates is dropped at the end. See bench/README.md for results.
"""

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from sqlalchemy import select  # noqa: E402

from app.core.config import Settings  # noqa: E402
from app.core.db import Database  # noqa: E402
from app.core.migrations import upgrade  # noqa: E402
from app.core.security import Principal  # noqa: E402
from app.main import build_services  # noqa: E402
from app.outbox.service import add_event  # noqa: E402
from app.staff.models import Clinic, StaffUser  # noqa: E402
from app.webhooks.schemas import WebhookCreate  # noqa: E402
from app.webhooks.service import create_webhook  # noqa: E402
from bench.seed import seed  # noqa: E402
from tests.receiver import Receiver  # noqa: E402

PG_ADMIN = os.environ.get("AFTERCARE_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "bench-secret-" + uuid.uuid4().hex + uuid.uuid4().hex
AFTERCARE = str(Path(sys.executable).parent / "aftercare")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (
        f"n={len(ms)} p50={percentile(ms, 50):.0f} ms p90={percentile(ms, 90):.0f} ms "
        f"p99={percentile(ms, 99):.0f} ms max={max(ms):.0f} ms"
    )


async def register(url: str, receiver_url: str) -> str:
    settings = Settings(database_url=url, secret_key=SECRET, allow_private_webhooks=True)
    services = build_services(settings, pool_size=1)
    try:
        async with services.db.read() as session:
            clinic = (await session.scalars(select(Clinic))).one()
            staff = (await session.scalars(select(StaffUser))).one()
        admin = Principal(staff.id, "admin", clinic.id, None)
        await create_webhook(services, admin, WebhookCreate(url=receiver_url))
        return str(clinic.id)
    finally:
        await services.db.dispose()


async def write_events(url: str, clinic_id: str, count: int) -> None:
    db = Database(url, pool_size=1)
    try:
        async with db.write() as session:
            now = datetime.now(UTC)
            for i in range(count):
                add_event(
                    session, uuid.UUID(clinic_id), "alert.created", {"n": i, "links": {}}, now
                )
    finally:
        await db.dispose()


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [AFTERCARE, *args], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT, cwd=ROOT
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


async def post_reports(port: int, pairs: list[tuple[str, str]], rate: float) -> dict[str, float]:
    """Open loop: report i leaves at t0 + i / rate. Returns {alert id: time its POST left}."""
    sent: dict[str, float] = {}
    post_times: list[float] = []
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", timeout=30, limits=httpx.Limits(max_connections=200)
    ) as client:

        async def one(i: int, procedure_id: str, token: str) -> None:
            await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
            body = {
                "client_report_id": str(uuid.uuid4()),
                "recorded_at": datetime.now(UTC).isoformat(),
                "pain_score": 5,
                "side_effects": [{"kind": "breathing_difficulty", "severity": "mild"}],
            }
            left = time.monotonic()
            response = await client.post(
                f"/v1/procedures/{procedure_id}/reports",
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
            post_times.append(time.monotonic() - left)
            response.raise_for_status()
            sent[response.json()["alerts"][0]["id"]] = left

        t0 = time.monotonic() + 0.5
        await asyncio.gather(*(one(i, p, t) for i, (p, t) in enumerate(pairs)))
    print("POST report:          ", summary(post_times))
    return sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument(
        "--separate-worker",
        action="store_true",
        help="serve --no-worker plus `aftercare worker`: delivery by polling alone",
    )
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="aftercare-webhook-bench-"))
    name = f"aftercare_bench_hooks_{uuid.uuid4().hex[:8]}"
    if options.database == "postgresql":
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    else:
        url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    receiver = Receiver().start()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AFTERCARE_DATABASE_URL": url,
        "AFTERCARE_SECRET_KEY": SECRET,
        "AFTERCARE_ALLOW_PRIVATE_WEBHOOKS": "1",
    }
    log = workdir / "server.log"
    try:
        asyncio.run(upgrade(url))
        blocks = int(options.rate * options.duration)
        pairs = asyncio.run(seed(url, SECRET, datetime.now(UTC), blocks))
        clinic_id = asyncio.run(register(url, receiver.url))

        port = free_port()
        serve_args = ["serve", "--port", str(port)]
        helpers = []
        if options.separate_worker:
            serve_args.append("--no-worker")
            helpers.append(start(["worker"], env, log))
        server = start(serve_args, env, log)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with suppress(httpx.HTTPError):
                    if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                        break
                time.sleep(0.1)
            mode = "separate worker (polling)" if options.separate_worker else "worker in serve"
            print(f"{options.database}, {mode}: {blocks} emergency reports at {options.rate:g}/s")
            sent = asyncio.run(post_reports(port, pairs, options.rate))
            receiver.wait_for(len(sent), timeout=60)
        finally:
            for process in (server, *helpers):
                stop(process)
        arrived: dict[str, float] = {}
        for record in receiver.received:
            alert_id = json.loads(record.body)["data"].get("alert_id")
            arrived.setdefault(alert_id, record.started)
        latencies = [arrived[a] - left for a, left in sent.items() if a in arrived]
        print(
            "POST -> webhook:      ", summary(latencies), f"(missing {len(sent) - len(latencies)})"
        )

        before = len(receiver.received)
        asyncio.run(write_events(url, clinic_id, options.events))
        worker = start(["worker"], env, log)
        try:
            receiver.wait_for(len(set(receiver.ids())) + options.events, timeout=300)
        finally:
            stop(worker)
        batch = receiver.received[before:]
        span = batch[-1].started - batch[0].started
        print(
            f"one worker delivered {len(batch)} events in {span:.1f} s: "
            f"{len(batch) / span:.0f} events/s (receiver on the same 2 cores)"
        )
        print(f"server and worker log: {log}")
    finally:
        receiver.stop()
        if options.database == "postgresql":
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
