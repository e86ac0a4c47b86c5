"""A login flood against the real service (issue 12): memory and other requests' latency.

    .venv/bin/python bench/login_flood.py [--only sqlite|postgresql] [--attempts 50]
        [--seconds 10] [--addresses 50]

Serves `aftercare serve --no-worker` (its shipped settings: 4 concurrent password hashes,
the default throttles) on a fresh database, makes an admin with `aftercare create-admin` and
signs in for real. Then it measures GET /v1/me (the probe, 20 a second, one at a time) idle,
and again while `--attempts` clients keep POSTing /v1/auth/token for unknown users as fast
as they are answered, each client from its own loopback address (127.0.0.x: the per-address
throttle would otherwise refuse most of them before they cost a hash, and this measures the
hashing bound). Prints the server's RSS (idle, peak: VmHWM) and the probe's p50/p99 idle and
during the flood, with the issue's targets: RSS under 400 MB, p99 within 2x of idle.
"""

import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
AFTERCARE = str(Path(sys.executable).parent / "aftercare")
PG_DSN = os.environ.get("AFTERCARE_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
PROBE_PER_SECOND = 20
HONOUR_RETRY_AFTER = os.environ.get("BENCH_FLOOD_HAMMER", "") != "1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="aftercare-flood-") as tmp:
            yield f"sqlite+aiosqlite:///{tmp}/bench.db"
        return
    name = f"aftercare_flood_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Service:
    """`aftercare serve --no-worker` on a port of its own, with its log in a temp file."""

    def __init__(self, url: str, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
        env |= {"AFTERCARE_DATABASE_URL": url, "AFTERCARE_SECRET_KEY": secrets.token_urlsafe(32)}
        self.env = env | (extra_env or {})
        self.log = tempfile.NamedTemporaryFile(prefix="aftercare-flood-", suffix=".log")  # noqa: SIM115
        self.process: subprocess.Popen[bytes] | None = None
        # The admin, made with `aftercare create-admin` before the server starts.
        self.credentials = ("flood-admin@clinic.example", secrets.token_urlsafe(18))
        command = [AFTERCARE, "create-admin", "--clinic", "Flood", "--email", self.credentials[0]]
        command += ["--password", self.credentials[1]]
        subprocess.run(command, env=self.env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)

    def __enter__(self) -> "Service":
        command = [AFTERCARE, "serve", "--no-worker", "--port", str(self.port)]
        self.process = subprocess.Popen(
            command, env=self.env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code < 500:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError(f"the service did not start; see {self.log.name}")

    def __exit__(self, *_: object) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.log.close()

    def memory_mb(self, field: str = "VmRSS") -> float:
        assert self.process
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no {field} for the server")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def probe(call: Callable[[], Awaitable[int]], seconds: float) -> list[float]:
    """Latencies (ms) of one request at a time, PROBE_PER_SECOND a second."""
    latencies: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.perf_counter()
        status = await call()
        latencies.append((time.perf_counter() - started) * 1000)
        if status >= 400:
            raise RuntimeError(f"the probe itself failed: {status}")
        await asyncio.sleep(max(0.0, 1 / PROBE_PER_SECOND - (time.perf_counter() - started)))
    return latencies


async def sample_rss(service: Service, stop: asyncio.Event) -> float:
    peak = 0.0
    while not stop.is_set():
        peak = max(peak, service.memory_mb())
        await asyncio.sleep(0.05)
    return peak


def client_from(address: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(transport=transport, timeout=60)


Request = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


def login_attempt(base: str) -> Request:
    async def attempt(client: httpx.AsyncClient) -> httpx.Response:
        form = {"username": f"nobody-{uuid.uuid4().hex[:10]}@clinic.example", "password": "x"}
        return await client.post(f"{base}/v1/auth/token", data=form)

    return attempt


async def _flood(attempt: Request, clients: int, addresses: int, seconds: float) -> Counter[int]:
    """`clients` loops, each from one of `addresses` loopback addresses, sending as soon as
    the last answer came; after a 429 or 503 only once its Retry-After has passed, unless
    --hammer (then every refusal is answered and the flood measures HTTP overhead too)."""
    seen: Counter[int] = Counter()
    end = time.monotonic() + seconds

    async def attacker(address: str) -> None:
        async with client_from(address) as client:
            while time.monotonic() < end:
                response = await attempt(client)
                seen[response.status_code] += 1
                wait = float(response.headers.get("retry-after", 0)) if HONOUR_RETRY_AFTER else 0
                await asyncio.sleep(min(wait, max(0.0, end - time.monotonic())))

    await asyncio.gather(*(attacker(f"127.0.0.{2 + i % addresses}") for i in range(clients)))
    return seen


def flood_process(make: Callable[[str], Request], base: str, *args: float) -> Counter[int]:
    """Runs in a child process: the flood's own CPU never delays the probe's clock."""
    clients, addresses, seconds = int(args[0]), int(args[1]), args[2]
    return asyncio.run(_flood(make(base), clients, addresses, seconds))


async def flooded(
    make: Callable[[str], Request], base: str, clients: int, addresses: int, seconds: float
) -> asyncio.Future[Counter[int]]:
    """The flood, started in a child process; await the result for its answers."""
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(pool, flood_process, make, base, clients, addresses, seconds)
    pool.shutdown(wait=False)
    await asyncio.sleep(1.5)  # the child starts and the queue fills
    return future


def report(title: str, idle: list[float], busy: list[float], rss: dict[str, float]) -> dict:  # type: ignore[type-arg]
    idle_p99, busy_p99 = percentile(idle, 0.99), percentile(busy, 0.99)
    figures = {
        "probe_idle_p50_ms": round(percentile(idle, 0.5), 1),
        "probe_idle_p99_ms": round(idle_p99, 1),
        "probe_flood_p50_ms": round(percentile(busy, 0.5), 1),
        "probe_flood_p99_ms": round(busy_p99, 1),
        "p99_ratio": round(busy_p99 / idle_p99, 2),
        **{k: round(v, 1) for k, v in rss.items()},
    }
    print(title, json.dumps(figures))
    return figures


async def measure(service: Service, attempts: int, seconds: float, addresses: int) -> dict:  # type: ignore[type-arg]
    email, password = service.credentials
    async with httpx.AsyncClient(base_url=service.base, timeout=60) as client:
        token = await client.post("/v1/auth/token", data={"username": email, "password": password})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

        async def me() -> int:
            return (await client.get("/v1/me", headers=headers)).status_code

        await probe(me, 2)  # warm-up
        rss_idle = service.memory_mb()
        idle = await probe(me, seconds)
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(service, stop))
        flood = await flooded(login_attempt, service.base, attempts, addresses, seconds + 3)
        busy = await probe(me, seconds)
        seen = await flood
        stop.set()
        rss = {"rss_idle_mb": rss_idle, "rss_peak_mb": await sampler}
        rss["vmhwm_mb"] = service.memory_mb("VmHWM")
    figures = report(f"{attempts} concurrent logins:", idle, busy, rss)
    print("  flood answers:", dict(sorted(seen.items())))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--attempts", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--addresses", type=int, default=50)
    parser.add_argument("--hammer", action="store_true", help="ignore Retry-After")
    parser.add_argument(
        "--setting", action="append", default=[], metavar="AFTERCARE_X=V", help="repeatable"
    )
    args = parser.parse_args()
    settings = dict(item.split("=", 1) for item in args.setting)
    if args.hammer:  # read by the flood's child process
        os.environ["BENCH_FLOOD_HAMMER"] = "1"
    results = {}
    for kind in [args.only] if args.only else ["sqlite", "postgresql"]:
        with database(kind) as url, Service(url, settings) as service:
            print(f"--- {kind}")
            results[kind] = asyncio.run(
                measure(service, args.attempts, args.seconds, args.addresses)
            )
            peak = results[kind]["vmhwm_mb"]
            ratio = results[kind]["p99_ratio"]
            print(f"  targets: RSS < 400 MB: {peak < 400}; p99 within 2x idle: {ratio <= 2}")


if __name__ == "__main__":
    main()
