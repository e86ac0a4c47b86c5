"""POST report throughput and latency, side by side with the practical limit.

    .venv/bin/python bench/run.py [--duration 8] [--rounds 2] [--only sqlite|postgresql]
        [--blocks N] [--baseline-commit REV] [--endpoints report,timeline,minimal]
        [--pg-drivers asyncpg,psycopg]

For each database (PostgreSQL through asyncpg and through psycopg 3; SQLite through
aiosqlite) this starts the real service (one uvicorn worker) and bench/minimal_app.py (the
same body validation, three rows in one transaction) one at a time, drives each with wrk at
16 and 64 concurrent keep-alive connections, and prints req/s, p50/p99 latency, errors, the
server's CPU per request, pool churn and peak RSS (PostgreSQL's CPU is in the JSON). Every
round measures every cell; rounds alternate the order, and the table keeps each cell's best
round (other load on the machine only ever slows a cell down). Everything runs on 127.0.0.1;
the PostgreSQL databases it creates are dropped at the end. Results also go to
bench/results/latest.json. See bench/README.md.

--blocks N seeds N patients, one block each, and spreads the reports round-robin over their
blocks (default 50: a block holds at most AFTERCARE_REPORTS_PER_BLOCK_CAP reports, 1,000, and
a run posts about 12,000 per server; before the cap the default was 1, every report to one
block). --baseline-commit REV also measures the real
service as it was at REV, side by side in the same run: a detached git worktree of REV in
/tmp, served by this venv with that tree's code first on the path, against its own database
migrated and seeded by that tree's code (rows "report@REV"); the worktree is removed at the
end.

--endpoints picks what is measured: "report" (POST report), "minimal" (bench/minimal_app.py)
and "timeline" (GET /v1/patients/{id}/timeline?limit=50 by a clinician, of a patient with 60
reports, a block, its check-ins and an alert: a full 50-item page; rows "timeline@REV" with
--baseline-commit). Default: report,minimal.
"""

import argparse
import asyncio
import http.client
import ipaddress
import json
import os
import platform
import re
import resource
import secrets
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app.core.migrations import upgrade  # noqa: E402
from app.reports.schemas import ReportIn  # noqa: E402
from bench import minimal_app  # noqa: E402
from bench.seed import seed, seed_timeline  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
LUA_SCRIPT = BENCH_DIR / "post.lua"
SEED_SCRIPT = BENCH_DIR / "seed.py"
RESULTS = BENCH_DIR / "results" / "latest.json"
HOST = "127.0.0.1"
ID_PLACEHOLDER = "00000000-0000-4000-8000-000000000000"
DEFAULT_PG_DSN = os.environ.get(
    "AFTERCARE_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
SERVER_START_S = 3.0  # for the time estimate only
TICK = os.sysconf("SC_CLK_TCK")
DISTURBED_PERCENT = 15.0  # other processes' CPU (of one core) that makes a cell suspect
QUIET_CORES = 0.15  # --quiet-wait waits for the machine to be busier than this no more
TIMELINE_REPORTS = 60  # the timeline patient's reports: with its block, check-ins and alert, > 50
ENDPOINTS = ("report", "timeline", "minimal")


@dataclass(frozen=True)
class Target:
    """One server to measure: an endpoint on one database through one driver."""

    database: str  # postgresql | sqlite
    endpoint: str  # minimal | report
    driver: str  # asyncpg | psycopg | aiosqlite
    url: str
    path: str
    token: str = ""
    # With --blocks N > 1: every (report path, patient token); wrk spreads requests over them.
    pairs: tuple[tuple[str, str], ...] = ()
    root: Path = ROOT  # the tree whose code the server runs (another for --baseline-commit)
    # What serves it: this uvicorn app factory, given the database URL in `url_variable`; or,
    # if `command` is set, that command (given --host, --port and the same variable).
    app_spec: str = "app.main:create_app"
    url_variable: str = "AFTERCARE_DATABASE_URL"
    command: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.endpoint} via {self.driver}"

    @property
    def kind(self) -> str:
        """report | timeline | minimal (or a bench/read.py endpoint), whichever tree runs it."""
        return self.endpoint.split("@", 1)[0]

    @property
    def method(self) -> str:
        """The two write endpoints POST; every other one is a read."""
        return "POST" if self.kind in ("report", "minimal") else "GET"

    @property
    def expect(self) -> int:
        return 201 if self.method == "POST" else 200


@dataclass
class Cell:
    """One measurement: a target at one concurrency, in one round."""

    database: str
    endpoint: str
    driver: str
    clients: int
    round: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    error_detail: dict[str, int] = field(default_factory=dict)
    error_sample: str = ""
    server_cpu_ms_per_request: float = 0.0
    server_cpu_percent: float = 0.0  # of one core
    postgres_cpu_ms_per_request: float | None = None  # backends of this run's databases
    postgres_sessions_opened: int | None = None  # during the cell: the pool's churn
    postgres_shared_cpu_percent: float | None = None  # background, exited backends; of a core
    wrk_cpu_percent: float = 0.0
    other_cpu_percent: float = 0.0  # processes outside the benchmark, of one core
    peak_rss_mb: float = 0.0

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.database, self.endpoint, self.driver, self.clients)


class BenchError(RuntimeError):
    pass


# --- the report body ---------------------------------------------------------------------


def report_body(recorded_at: datetime) -> dict[str, Any]:
    """A typical report from the patient's app (the API's documented example: temperature,
    two side effects, a note), with the id wrk fills in and a time after the block."""
    example = ReportIn.model_json_schema()["examples"][0]
    return {
        **example,
        "client_report_id": ID_PLACEHOLDER,
        "recorded_at": recorded_at.astimezone(UTC).isoformat(timespec="seconds"),
    }


def split_body(body: dict[str, Any]) -> tuple[str, str]:
    """The JSON before and after the id, which wrk fills in fresh for every request."""
    ReportIn.model_validate(body)  # the body must be valid, or every request is a 422
    text = json.dumps(body, separators=(",", ":"))
    prefix, suffix = text.split(ID_PLACEHOLDER)
    return prefix, suffix


# --- databases ---------------------------------------------------------------------------


def check_loopback_dsn(dsn: str) -> None:
    host = make_url(dsn).host or "localhost"
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise BenchError(f"the PostgreSQL server must be on loopback, not {host}")


def pg_url(admin_dsn: str, driver: str, database: str) -> str:
    url = make_url(admin_dsn).set(drivername=f"postgresql+{driver}", database=database)
    return url.render_as_string(hide_password=False)


def pg_admin(admin_dsn: str) -> psycopg.Connection[Any]:
    conninfo = make_url(admin_dsn).set(drivername="postgresql").render_as_string(False)
    return psycopg.connect(conninfo, autocommit=True, connect_timeout=5)


def pg_version(admin_dsn: str) -> str:
    try:
        with pg_admin(admin_dsn) as conn:
            row = conn.execute("SHOW server_version").fetchone()
    except psycopg.Error as exc:
        raise BenchError(
            f"PostgreSQL is not reachable at {admin_dsn} ({exc}). Start it, point "
            "--pg-dsn / AFTERCARE_BENCH_PG_DSN at it, or run with --only sqlite."
        ) from exc
    return str(row[0]) if row else "?"


@contextmanager
def pg_databases(admin_dsn: str, names: list[str]) -> Iterator[None]:
    """Fresh databases for one run, dropped at the end whatever happens."""
    made: list[str] = []
    try:
        with pg_admin(admin_dsn) as conn:
            for name in names:
                conn.execute(f'CREATE DATABASE "{name}"')
                made.append(name)
        yield
    finally:
        if made:
            with pg_admin(admin_dsn) as conn:
                for name in made:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            print(f"dropped PostgreSQL databases {', '.join(made)}", flush=True)


def tree_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env["PYTHONPATH"] = str(root)
    return env


Seeded = tuple[list[tuple[str, str]], tuple[str, str] | None]  # report pairs, timeline
# Migrates the database at argv[1] with whichever `app` comes first on the path.
MIGRATE_IN_TREE = (
    "import asyncio, sys; from app.core.migrations import upgrade; "
    "asyncio.run(upgrade(sys.argv[1]))"
)


def run_in_tree(root: Path, what: str, command: list[str]) -> str:
    """Runs `command` in another tree (a --baseline-commit worktree) with that tree's code
    first on the path, so that `app` is its own; returns what it printed."""
    done = subprocess.run(
        command,
        cwd=root,
        env=tree_env(root),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"baseline {what} failed in {root}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def prepare_baseline(
    url: str, secret: str, blocks: int, root: Path, timeline: bool = False
) -> Seeded:
    """Migrates and seeds a database with the code of another tree (a --baseline-commit
    worktree), in subprocesses that import that tree's `app`. The seed script is that tree's
    own bench/seed.py when it has one (this tree's imports modules an older `app` may keep
    elsewhere), else this tree's."""
    own_seed = root / "bench" / "seed.py"
    seed_script = own_seed if own_seed.exists() else SEED_SCRIPT
    seed_command = [sys.executable, str(seed_script), url, secret, str(blocks)]
    if timeline:
        seed_command += ["--timeline", str(TIMELINE_REPORTS)]
    run_in_tree(root, "migrate", [sys.executable, "-c", MIGRATE_IN_TREE, url])
    stdout = run_in_tree(root, "seed", seed_command)
    pairs: list[tuple[str, str]] = []
    page: tuple[str, str] | None = None
    for line in stdout.strip().splitlines():
        if not line.startswith(("[", "{")):
            continue  # anything else the tree's code printed
        parsed = json.loads(line)
        if isinstance(parsed, dict):
            path, token = parsed["timeline"]
            page = (str(path), str(token))
        else:
            pairs = [(str(p), str(t)) for p, t in parsed]
    return pairs, page


def prepare(
    database: str,
    drivers: tuple[str, ...],
    urls: dict[str, tuple[str, str]],
    secret: str,
    blocks: int = 1,
    baseline: tuple[str, Path, dict[str, str]] | None = None,
    endpoints: tuple[str, ...] = ("report", "minimal"),
) -> list[Target]:
    """Migrates and seeds the app's database, builds the minimal app's tables. `urls` maps a
    driver to (app url, minimal url); the first driver's URLs do the setup. `baseline` is
    (short commit, worktree, driver -> its own app url) for --baseline-commit: its targets
    are the same endpoints (but minimal) labelled "<endpoint>@<commit>"."""
    app_url, minimal_url = urls[drivers[0]]
    timeline = "timeline" in endpoints
    now = datetime.now(UTC)
    asyncio.run(upgrade(app_url))
    pairs = asyncio.run(seed(app_url, secret, now, blocks))
    page = asyncio.run(seed_timeline(app_url, secret, now, TIMELINE_REPORTS)) if timeline else None
    if "minimal" in endpoints:
        asyncio.run(minimal_app.create_schema(minimal_url))

    def app_targets(suffix: str, driver: str, url: str, seeded: Seeded, root: Path) -> list[Target]:
        report_pairs, timeline_page = seeded
        made = []
        if "report" in endpoints:
            paths = tuple((f"/v1/procedures/{pid}/reports", token) for pid, token in report_pairs)
            path, token = paths[0]
            made.append(
                Target(
                    database,
                    "report" + suffix,
                    driver,
                    url,
                    path,
                    token,
                    paths if blocks > 1 else (),
                    root,
                )
            )
        if timeline:
            if timeline_page is None:
                raise BenchError(f"the seed of {root} made no timeline patient")
            path, token = timeline_page
            made.append(Target(database, "timeline" + suffix, driver, url, path, token, (), root))
        return made

    targets = []
    for driver in drivers:
        app_url, minimal_url = urls[driver]
        if "minimal" in endpoints:
            targets.append(
                Target(
                    database,
                    "minimal",
                    driver,
                    minimal_url,
                    minimal_app.PATH,
                    app_spec="bench.minimal_app:create_app",
                    url_variable=minimal_app.URL_VARIABLE,
                )
            )
        targets += app_targets("", driver, app_url, (pairs, page), ROOT)
    if baseline is not None:
        short, root, base_urls = baseline
        seeded = prepare_baseline(base_urls[drivers[0]], secret, blocks, root, timeline)
        for driver in drivers:
            targets += app_targets(f"@{short}", driver, base_urls[driver], seeded, root)
    return targets


# --- CPU accounting ----------------------------------------------------------------------


def _stat_fields(pid: int | str) -> tuple[str, list[str]]:
    text = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) is in parentheses and may hold spaces; fields[0] is field 3.
    return text[text.index("(") + 1 : text.rindex(")")], text.rsplit(")", 1)[1].split()


def process_cpu(pid: int, *, reaped_children: bool = False) -> float:
    _, fields = _stat_fields(pid)
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / TICK


def wait_idle(pid: int, limit: float = 30.0) -> None:
    """Waits, at most `limit` seconds, until process `pid` uses under a tenth of a core for
    0.2 s: a server has finished the work the last load left it."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = process_cpu(pid)
        time.sleep(0.2)
        if process_cpu(pid) - before < 0.02:
            return


def machine_busy_cpu() -> float:
    """CPU seconds the machine spent in processes (user nice system steal), all cores."""
    with Path("/proc/stat").open() as stat:
        user, nice, system, _idle, _iowait, _irq, _softirq, steal = (
            int(v) for v in stat.readline().split()[1:9]
        )
    return (user + nice + system + steal) / TICK


def wrk_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk is the only child reaped
    return usage.ru_utime + usage.ru_stime


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


@dataclass
class CpuSnapshot:
    server: float
    backends: dict[int, float]  # PostgreSQL backends connected to this run's databases
    shared: dict[int, float]  # PostgreSQL's own processes, with the backends that exited
    sessions: int
    wrk: float
    busy: float


class CpuProbe:
    """CPU time of the server, of wrk, of PostgreSQL (the backends connected to this run's
    databases apart, per request), and of the whole machine. What is left over is other
    processes' load, which disturbs the figures."""

    def __init__(self) -> None:
        self.conn: psycopg.Connection[Any] | None = None
        self.databases: list[str] = []
        self.postmaster: int | None = None

    def watch_postgres(self, admin_dsn: str, databases: list[str]) -> None:
        self.conn = pg_admin(admin_dsn)
        self.databases = databases
        row = self.conn.execute("SELECT pg_backend_pid()").fetchone()
        with suppress(OSError, ValueError, TypeError):  # the server is not on this machine
            self.postmaster = int(_stat_fields(row[0])[1][1]) if row else None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _postgres(self) -> tuple[dict[int, float], dict[int, float], int]:
        if self.conn is None:
            return {}, {}, 0
        rows = self.conn.execute(
            "SELECT pid, datname = ANY(%s) AND backend_type = 'client backend' "
            "FROM pg_stat_activity WHERE datname = ANY(%s) OR backend_type <> 'client backend'",
            [self.databases, self.databases],
        ).fetchall()
        sessions = self.conn.execute(
            "SELECT coalesce(sum(sessions), 0) FROM pg_stat_database WHERE datname = ANY(%s)",
            [self.databases],
        ).fetchone()
        backends: dict[int, float] = {}
        shared: dict[int, float] = {}
        for pid, ours in rows:
            with suppress(OSError, ValueError):  # gone since, or not on this machine
                (backends if ours else shared)[pid] = process_cpu(pid)
        if self.postmaster is not None:
            with suppress(OSError, ValueError):
                shared[self.postmaster] = process_cpu(self.postmaster, reaped_children=True)
        return backends, shared, int(sessions[0]) if sessions else 0

    def snapshot(self, server_pid: int) -> CpuSnapshot:
        backends, shared, sessions = self._postgres()
        return CpuSnapshot(
            process_cpu(server_pid), backends, shared, sessions, wrk_cpu(), machine_busy_cpu()
        )

    def wait_for_quiet(self, limit: float) -> None:
        """Waits, at most `limit` seconds, until the machine is nearly idle for a second."""
        deadline = time.monotonic() + limit
        waited = False
        while time.monotonic() < deadline:
            before = machine_busy_cpu()
            time.sleep(1.0)
            if machine_busy_cpu() - before < QUIET_CORES:
                break
            waited = True
        else:
            print(f"    the machine is still busy after {limit:.0f} s; measuring anyway")
            return
        if waited:
            print("    waited for other load on the machine to pass", flush=True)


# --- servers -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


class Server:
    """One uvicorn process with one worker on 127.0.0.1; with one worker, the process that
    uvicorn starts is the one that serves."""

    def __init__(self, target: Target, env: dict[str, str], log_path: Path) -> None:
        self.target = target
        self.env = dict(env)
        self.env[target.url_variable] = target.url
        if target.root != ROOT:  # another tree's code, with this venv
            self.env["PYTHONPATH"] = str(target.root)
        self.app_spec = shlex.join(target.command) if target.command else target.app_spec
        self.log_path = log_path
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> "Server":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        if self.target.command:
            command = [*self.target.command, "--host", HOST, "--port", str(self.port)]
        else:
            command = [
                *(sys.executable, "-m", "uvicorn", self.app_spec, "--factory"),
                *("--host", HOST, "--port", str(self.port), "--workers", "1"),
                *("--loop", "uvloop", "--http", "httptools", "--no-access-log"),
                *("--log-level", "warning"),
            ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.target.root, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"{self.app_spec} exited at start:\n{self.log_tail()}")
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchError(f"{self.app_spec} did not answer in {START_TIMEOUT_S:.0f} s")

    def request(
        self, method: str, path: str, body: str | None = None, token: str = ""
    ) -> tuple[int, str]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        conn = http.client.HTTPConnection(HOST, self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read().decode(errors="replace")
        finally:
            conn.close()

    def log_tail(self) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-30:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT_S)


# --- load --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    duration: float
    warmup: float
    threads: int
    timeout: float
    quiet_wait: float
    # After the warm-up, wait for the server to finish the requests wrk left in flight (their
    # clients are gone): a slow endpoint must not start the measurement with that backlog.
    drain: bool = False


def run_wrk(
    server: Server, body: tuple[str, str], clients: int, seconds: float, load: Load
) -> dict[str, Any]:
    target = server.target
    targets_file = ""
    if target.pairs:
        path = server.log_path.with_suffix(".targets")
        path.write_text("".join(f"{p} {t}\n" for p, t in target.pairs))
        targets_file = str(path)
    env = {
        **os.environ,
        "BENCH_PATH": target.path,
        "BENCH_TOKEN": target.token,
        "BENCH_BODY_PREFIX": body[0],
        "BENCH_BODY_SUFFIX": body[1],
        "BENCH_SEED": str(secrets.randbelow(2**31)),
        "BENCH_EXPECT": str(target.expect),
        "BENCH_METHOD": target.method,
        "BENCH_TARGETS_FILE": targets_file,
    }
    command = [
        "wrk",
        f"--threads={min(load.threads, clients)}",
        f"--connections={clients}",
        f"--duration={max(1, round(seconds))}s",
        f"--timeout={load.timeout:g}s",
        f"--script={LUA_SCRIPT}",
        f"http://{HOST}:{server.port}{target.path}",
    ]
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"wrk did not finish within {seconds + 60:.0f} s") from exc
    match = re.search(r"^BENCH_JSON (.*)$", done.stdout, re.MULTILINE)
    if done.returncode != 0 or match is None:
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(match.group(1))
    sample = re.search(r"^BENCH_SAMPLE ?(.*)$", done.stdout, re.MULTILINE)
    result["sample"] = sample.group(1).strip() if sample else ""
    return result


@dataclass(frozen=True)
class Run:
    """What every cell of one run shares."""

    body: tuple[str, str]
    load: Load
    clients: list[int]
    env: dict[str, str]
    workdir: Path
    probe: CpuProbe


def measure(server: Server, run: Run, clients: int, rnd: int) -> Cell:
    target, body, load, probe = server.target, run.body, run.load, run.probe
    postgres = target.database == "postgresql"
    if load.quiet_wait > 0:
        probe.wait_for_quiet(load.quiet_wait)
    if load.warmup > 0:  # fills the pool, warms statement caches and the allocator
        run_wrk(server, body, clients, load.warmup, load)
        if load.drain:
            wait_idle(server.pid)
    before = probe.snapshot(server.pid)
    raw = run_wrk(server, body, clients, load.duration, load)
    after = probe.snapshot(server.pid)
    seconds = raw["duration_us"] / 1e6
    requests = int(raw["requests"])
    per_request = 1000 / max(requests, 1)
    server_cpu = after.server - before.server
    pg_cpu = cpu_delta(before.backends, after.backends)
    pg_shared = cpu_delta(before.shared, after.shared)
    wrk = after.wrk - before.wrk
    # The wall time between snapshots is a little longer than wrk's own duration.
    other = max(0.0, (after.busy - before.busy) - server_cpu - pg_cpu - pg_shared - wrk)
    detail = {k: int(raw[k]) for k in ("unexpected", "connect", "read", "write", "timeout")}
    return Cell(
        database=target.database,
        endpoint=target.endpoint,
        driver=target.driver,
        clients=clients,
        round=rnd,
        requests=requests,
        seconds=round(seconds, 2),
        rps=round(requests / seconds, 1),
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        errors=sum(detail.values()),
        error_detail={k: v for k, v in detail.items() if v},
        error_sample=raw["sample"],
        server_cpu_ms_per_request=round(server_cpu * per_request, 3),
        server_cpu_percent=round(100 * server_cpu / seconds, 1),
        postgres_cpu_ms_per_request=round(pg_cpu * per_request, 3) if postgres else None,
        postgres_sessions_opened=after.sessions - before.sessions if postgres else None,
        postgres_shared_cpu_percent=round(100 * pg_shared / seconds, 1) if postgres else None,
        wrk_cpu_percent=round(100 * wrk / seconds, 1),
        other_cpu_percent=round(100 * other / seconds, 1),
        peak_rss_mb=peak_rss_mb(server.pid),
    )


def bench_target(target: Target, run: Run, rnd: int) -> list[Cell]:
    """Starts the target's server, checks one request, measures each concurrency, stops it."""
    log_path = run.workdir / f"{target.database}-{target.endpoint}-{target.driver}.log"
    body = run.body
    cells: list[Cell] = []
    server = Server(target, run.env, log_path)
    try:
        with server:
            one = body[0] + str(uuid.uuid4()) + body[1] if target.method == "POST" else None
            status, text = server.request(target.method, target.path, one, target.token)
            if status != target.expect:
                raise BenchError(
                    f"{target.label}: one {target.method} answered {status}: {text[:500]}"
                )
            if target.kind == "timeline" and len(json.loads(text)["items"]) != 50:
                raise BenchError(f"{target.label}: the page does not hold 50 items: {text[:500]}")
            for n in run.clients:
                cell = measure(server, run, n, rnd)
                cells.append(cell)
                print(
                    f"  round {rnd} {target.database:<10} {target.label:<26} {n:>3} clients: "
                    f"{cell.rps:7.1f} req/s  p50 {cell.p50_ms:6.1f} ms  p99 {cell.p99_ms:7.1f} ms"
                    f"  errors {cell.errors}  other CPU {cell.other_cpu_percent:.0f}%",
                    flush=True,
                )
                if cell.errors:
                    print(f"    errors {cell.error_detail}; first: {cell.error_sample}")
    except BaseException:
        tail = server.log_tail()
        if tail:
            print(f"--- server log ({log_path.name}) ---\n{tail}", file=sys.stderr)
        raise
    return cells


# --- report ------------------------------------------------------------------------------


def best_cells(cells: list[Cell], endpoints: tuple[str, ...] = ENDPOINTS) -> list[Cell]:
    """Per target and concurrency, the round with the highest throughput, sorted by database,
    driver, then the order of `endpoints` (endpoint names without "@REV")."""
    best: dict[tuple[str, str, str, int], Cell] = {}
    for cell in cells:
        if cell.key not in best or cell.rps > best[cell.key].rps:
            best[cell.key] = cell
    order = {"postgresql": 0, "sqlite": 1, "asyncpg": 0, "psycopg": 1, "aiosqlite": 2}
    return sorted(
        best.values(),
        key=lambda c: (
            order[c.database],
            order[c.driver],
            endpoints.index(c.endpoint.split("@", 1)[0]),
            0 if "@" in c.endpoint else 1,  # the baseline above the current code
            c.clients,
        ),
    )


TABLE_COLUMNS = (
    ("endpoint", 31),
    ("clients", 7),
    ("req/s", 7),
    ("p50 ms", 7),
    ("p99 ms", 7),
    ("errors", 6),
    ("srv CPU ms/req", 14),
    ("srv CPU", 7),
    ("new PG conns", 12),
    ("peak RSS MB", 11),
    ("other CPU", 9),
)


def table_row(c: Cell) -> list[str]:
    return [
        f"{c.endpoint} via {c.driver}",
        str(c.clients),
        f"{c.rps:.1f}",
        f"{c.p50_ms:.1f}",
        f"{c.p99_ms:.1f}",
        str(c.errors),
        f"{c.server_cpu_ms_per_request:.2f}",
        f"{c.server_cpu_percent:.0f}%",
        "-" if c.postgres_sessions_opened is None else str(c.postgres_sessions_opened),
        f"{c.peak_rss_mb:.0f}",
        f"{c.other_cpu_percent:.0f}%",
    ]


def print_table(cells: list[Cell]) -> None:
    """CPU percentages are of one core; "new PG conns" counts connections the server opened
    during the cell (pool churn); "other CPU" is load from outside the benchmark."""
    header = " ".join(
        f"{name:<{width}}" if i == 0 else f"{name:>{width}}"
        for i, (name, width) in enumerate(TABLE_COLUMNS)
    )
    for database in ("postgresql", "sqlite"):
        rows = [c for c in cells if c.database == database]
        if not rows:
            continue
        print(f"\n{database}\n{header}\n{'-' * len(header)}")
        for c in rows:
            values = table_row(c)
            print(
                " ".join(
                    f"{v:<{w}}" if i == 0 else f"{v:>{w}}"
                    for i, (v, (_, w)) in enumerate(zip(values, TABLE_COLUMNS, strict=True))
                )
            )


def summarise(
    best: list[Cell],
    cells: list[Cell],
    clients: list[int],
    baseline: str | None = None,
    min_ratio: float = 0.85,
) -> dict[str, Any]:
    """`baseline` is the short commit of --baseline-commit: each endpoint is compared with
    "<endpoint>@<commit>" and must keep `min_ratio` of its throughput."""
    index = {c.key: c for c in best}
    ratios, drivers, targets, versus = [], [], [], []
    if baseline is not None:
        for c in best:
            base = index.get((c.database, f"{c.endpoint}@{baseline}", c.driver, c.clients))
            if base is None:
                continue
            ratio = round(c.rps / base.rps, 3)
            versus.append(
                {
                    "database": c.database,
                    "endpoint": c.endpoint,
                    "driver": c.driver,
                    "clients": c.clients,
                    "current_rps": c.rps,
                    "baseline_rps": base.rps,
                    "current_p99_ms": c.p99_ms,
                    "baseline_p99_ms": base.p99_ms,
                    "ratio": ratio,
                }
            )
            if c.database == "postgresql":
                targets.append(
                    {
                        "target": f"PostgreSQL/{c.driver}, {c.clients} clients: "
                        f"{c.endpoint} >= {min_ratio:g}x {c.endpoint}@{baseline}",
                        "measured": ratio,
                        "met": ratio >= min_ratio,
                    }
                )
    for c in best:
        if c.endpoint == "timeline" and c.database == "postgresql" and c.clients == 16:
            targets.append(
                {
                    "target": f"PostgreSQL/{c.driver}, 16 clients: timeline p99 < 100 ms",
                    "measured": c.p99_ms,
                    "met": c.p99_ms < 100,
                }
            )
    for database, driver in (
        ("postgresql", "asyncpg"),
        ("postgresql", "psycopg"),
        ("sqlite", "aiosqlite"),
    ):
        for n in clients:
            report = index.get((database, "report", driver, n))
            minimal = index.get((database, "minimal", driver, n))
            if report and minimal:
                ratio = round(report.rps / minimal.rps, 3)
                ratios.append(
                    {"database": database, "driver": driver, "clients": n, "ratio": ratio}
                )
                if database == "postgresql":
                    targets.append(
                        {
                            "target": f"PostgreSQL/{driver}, {n} clients: report >= 0.5x minimal",
                            "measured": ratio,
                            "met": ratio >= 0.5,
                        }
                    )
            if report and database == "postgresql" and n == 16:
                targets.append(
                    {
                        "target": f"PostgreSQL/{driver}, 16 clients: report p99 < 100 ms",
                        "measured": report.p99_ms,
                        "met": report.p99_ms < 100,
                    }
                )
    for n in clients:
        a = index.get(("postgresql", "report", "asyncpg", n))
        p = index.get(("postgresql", "report", "psycopg", n))
        if a and p:
            drivers.append(
                {
                    "clients": n,
                    "asyncpg_rps": a.rps,
                    "psycopg_rps": p.rps,
                    "asyncpg_over_psycopg": round(a.rps / p.rps, 3),
                }
            )
    rss = [c.peak_rss_mb for c in cells if c.endpoint in ("report", "timeline")]
    if rss:
        targets.append(
            {
                "target": "report server peak RSS < 250 MB",
                "measured": max(rss),
                "met": max(rss) < 250,
            }
        )
    errors = sum(c.errors for c in cells)
    targets.append(
        {"target": "no errors in any round (a valid run)", "measured": errors, "met": errors == 0}
    )
    disturbed = [c for c in best if c.other_cpu_percent > DISTURBED_PERCENT]
    return {
        "ratios": ratios,
        "versus_baseline": versus,
        "drivers": drivers,
        "targets": targets,
        "disturbed_cells": [
            f"{c.database} {c.endpoint} via {c.driver} {c.clients}: other CPU {c.other_cpu_percent}%"
            for c in disturbed
        ],
    }


def print_summary(summary: dict[str, Any]) -> None:
    if summary["ratios"]:
        print("\nreport / minimal throughput")
    for r in summary["ratios"]:
        print(
            f"  {r['database']:<10} {r['driver']:<9} {r['clients']:>3} clients: {r['ratio']:.2f}x"
        )
    if summary["versus_baseline"]:
        print("\ncurrent / baseline throughput")
        for r in summary["versus_baseline"]:
            print(
                f"  {r['database']:<10} {r['endpoint']:<9} {r['driver']:<9} {r['clients']:>3} "
                f"clients: {r['current_rps']:.1f} / {r['baseline_rps']:.1f} req/s = "
                f"{r['ratio']:.2f}x (p99 {r['current_p99_ms']:.1f} / {r['baseline_p99_ms']:.1f} ms)"
            )
    if summary["drivers"]:
        print("\nPOST report, asyncpg vs psycopg")
        for d in summary["drivers"]:
            print(
                f"  {d['clients']:>3} clients: asyncpg {d['asyncpg_rps']:.1f} req/s, psycopg "
                f"{d['psycopg_rps']:.1f} req/s: asyncpg/psycopg {d['asyncpg_over_psycopg']:.2f}x"
            )
    print("\ntargets")
    for t in summary["targets"]:
        print(f"  [{'met' if t['met'] else 'NOT MET'}] {t['target']} (measured {t['measured']})")
    if summary["disturbed_cells"]:
        print(
            f"\nWARNING: other processes used more than {DISTURBED_PERCENT:.0f}% of a core during "
            "these cells, so their figures are low; rerun on a quiet machine:"
        )
        for line in summary["disturbed_cells"]:
            print(f"  {line}")


def machine() -> dict[str, Any]:
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    cpu = [
        line.split(":", 1)[1].strip()
        for line in Path("/proc/cpuinfo").read_text().splitlines()
        if line.startswith("model name")
    ]
    return {
        "cores": os.cpu_count(),
        "cpu": cpu[0] if cpu else platform.processor(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": ((wrk.stdout or wrk.stderr).splitlines() or ["?"])[0],
    }


# --- main --------------------------------------------------------------------------------


def add_load_options(parser: argparse.ArgumentParser, *, rounds: int) -> None:
    """The options of a wrk run that bench/run.py and bench/read.py share."""
    parser.add_argument("--duration", type=float, default=8.0, help="seconds measured per cell")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before each")
    parser.add_argument(
        "--rounds", type=int, default=rounds, help="rounds; each cell keeps its best"
    )
    parser.add_argument("--clients", default="16,64", help="comma-separated connection counts")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--timeout", type=float, default=10.0, help="wrk per-request timeout")
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="before each cell, wait up to this long for other load on the machine to pass",
    )
    parser.add_argument("--pg-dsn", default=DEFAULT_PG_DSN, help="a loopback PostgreSQL server")
    parser.add_argument(
        "--app-env",
        action="append",
        default=[],
        metavar="AFTERCARE_X=V",
        help="a setting for the real service, e.g. AFTERCARE_DB_POOL_SIZE=20 (repeatable)",
    )


def load_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The load options as a results document records them (add_load_options)."""
    return {
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "rounds": args.rounds,
        "clients": args.clients,
        "wrk_threads": args.threads,
        "quiet_wait_s": args.quiet_wait,
    }


def check_load_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuses out-of-range load options; turns --clients into a list of ints."""
    if not (
        1 <= args.duration <= 120
        and 0 <= args.warmup <= 30
        and 1 <= args.rounds <= 5
        and 0 <= args.quiet_wait <= 300
    ):
        parser.error(
            "--duration must be 1-120 s, --warmup 0-30 s, --rounds 1-5, --quiet-wait 0-300 s"
        )
    try:
        args.clients = [int(n) for n in args.clients.split(",")]
    except ValueError:
        parser.error("--clients takes numbers separated by commas")
    if not all(1 <= n <= 1000 for n in args.clients):
        parser.error("--clients must be between 1 and 1000")
    if not all(re.fullmatch(r"AFTERCARE_[A-Z0-9_]+=.*", kv) for kv in args.app_env):
        parser.error("--app-env takes AFTERCARE_NAME=value")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="POST report throughput and latency vs a minimal 3-row endpoint."
    )
    add_load_options(parser, rounds=2)
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="one database only")
    parser.add_argument(
        "--blocks",
        type=int,
        default=50,
        help="patients (one block each) the reports are spread over, round-robin",
    )
    parser.add_argument(
        "--baseline-commit",
        metavar="REV",
        help="also measure the real service as it was at this git commit, side by side",
    )
    parser.add_argument(
        "--endpoints",
        default="report,minimal",
        help=f"comma-separated, of {','.join(ENDPOINTS)}: what is measured",
    )
    parser.add_argument(
        "--pg-drivers", default="asyncpg,psycopg", help="PostgreSQL drivers, comma-separated"
    )
    parser.add_argument(
        "--min-ratio",
        type=float,
        default=0.85,
        help="with --baseline-commit: the throughput each endpoint must keep of the baseline's",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    args = parser.parse_args(argv)
    check_load_options(parser, args)
    if not 1 <= args.blocks <= 10000:
        parser.error("--blocks must be between 1 and 10000")
    asked = set(args.endpoints.split(","))
    args.endpoints = tuple(e for e in ENDPOINTS if e in asked)
    if not args.endpoints or not asked <= set(ENDPOINTS):
        parser.error(f"--endpoints takes some of {','.join(ENDPOINTS)}")
    if set(args.endpoints) == {"minimal"} and args.baseline_commit:
        parser.error("--baseline-commit compares report or timeline, not minimal alone")
    args.pg_drivers = tuple(d for d in ("asyncpg", "psycopg") if d in args.pg_drivers.split(","))
    if not args.pg_drivers:
        parser.error("--pg-drivers takes asyncpg, psycopg or both")
    return args


@contextmanager
def baseline_tree(rev: str) -> Iterator[tuple[str, Path]]:
    """A detached git worktree of `rev` in /tmp, removed at the end whatever happens; yields
    (short commit, path)."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BenchError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout.strip()

    short = git("rev-parse", "--short", f"{rev}^{{commit}}")
    path = Path(tempfile.gettempdir()) / f"aftercare-bench-{short}-{secrets.token_hex(3)}"
    git("worktree", "add", "--detach", str(path), short)
    try:
        yield short, path
    finally:
        subprocess.run(
            ["git", "worktree", "remove", "--force", str(path)],
            cwd=ROOT,
            capture_output=True,
            check=False,
        )
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, capture_output=True, check=False)
        print(f"removed worktree {path}", flush=True)


UNTHROTTLED = {
    "AFTERCARE_REPORTS_PER_CALLER_PER_MINUTE": "100000000",
    "AFTERCARE_AUTH_ATTEMPTS_PER_ADDRESS_PER_MINUTE": "100000000",
}


def server_env(secret: str, app_env: list[str]) -> dict[str, str]:
    """The caller's environment without its AFTERCARE_* settings, so a stray one cannot skew
    the figures; then the run's secret and any --app-env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERCARE_")}
    env["AFTERCARE_SECRET_KEY"] = secret
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    # wrk posts hundreds of reports a second with one token from one address: the throughput
    # is measured with the per-caller throttles out of the way (--app-env sets them back).
    env.update(UNTHROTTLED)
    for kv in app_env:
        name, value = kv.split("=", 1)
        env[name] = value
    return env


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A plain SIGTERM would skip the cleanup: servers left running, databases left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if shutil.which("wrk") is None:
        print(
            "wrk is not installed. Install it with:\n"
            "    apt-get update && apt-get install -y wrk\n"
            "(see bench/README.md)",
            file=sys.stderr,
        )
        return 2
    databases = [args.only] if args.only else ["postgresql", "sqlite"]
    load = Load(args.duration, args.warmup, args.threads, args.timeout, args.quiet_wait)
    secret = secrets.token_urlsafe(48)
    body = split_body(report_body(datetime.now(UTC) - timedelta(minutes=1)))
    info = machine()
    app_endpoints = len([e for e in args.endpoints if e != "minimal"])
    per_driver = len(args.endpoints) + (app_endpoints if args.baseline_commit else 0)
    servers = per_driver * (
        len(args.pg_drivers) * ("postgresql" in databases) + ("sqlite" in databases)
    )
    estimate = (
        args.rounds
        * servers
        * (SERVER_START_S + len(args.clients) * (load.warmup + load.duration + 0.5))
    )
    print(
        f"{servers} servers x {len(args.clients)} concurrencies x {args.rounds} rounds: "
        f"about {estimate / 60:.1f} min",
        flush=True,
    )
    started = time.monotonic()
    cells: list[Cell] = []
    run_id = secrets.token_hex(4)
    probe = CpuProbe()
    try:
        with tempfile.TemporaryDirectory(prefix="aftercare-bench-") as tmp, ExitStack() as stack:
            workdir = Path(tmp)
            stack.callback(probe.close)
            targets: list[Target] = []
            tree: tuple[str, Path] | None = None
            if args.baseline_commit:
                tree = stack.enter_context(baseline_tree(args.baseline_commit))
                info["baseline_commit"] = tree[0]
            if "postgresql" in databases:
                check_loopback_dsn(args.pg_dsn)
                info["postgresql"] = pg_version(args.pg_dsn)
                app_db, min_db = f"aftercare_bench_{run_id}", f"aftercare_bench_{run_id}_minimal"
                base_db = f"aftercare_bench_{run_id}_base"
                names = [app_db, min_db] + ([base_db] if tree else [])
                stack.enter_context(pg_databases(args.pg_dsn, names))
                probe.watch_postgres(args.pg_dsn, names)
                drivers = args.pg_drivers
                urls = {
                    d: (pg_url(args.pg_dsn, d, app_db), pg_url(args.pg_dsn, d, min_db))
                    for d in drivers
                }
                baseline = None
                if tree:
                    base_urls = {d: pg_url(args.pg_dsn, d, base_db) for d in drivers}
                    baseline = (tree[0], tree[1], base_urls)
                targets += prepare(
                    "postgresql", drivers, urls, secret, args.blocks, baseline, args.endpoints
                )
            if "sqlite" in databases:
                urls = {
                    "aiosqlite": (
                        f"sqlite+aiosqlite:///{workdir / 'aftercare.db'}",
                        f"sqlite+aiosqlite:///{workdir / 'minimal.db'}",
                    )
                }
                baseline = None
                if tree:
                    base_urls = {"aiosqlite": f"sqlite+aiosqlite:///{workdir / 'base.db'}"}
                    baseline = (tree[0], tree[1], base_urls)
                targets += prepare(
                    "sqlite", ("aiosqlite",), urls, secret, args.blocks, baseline, args.endpoints
                )
            run = Run(body, load, args.clients, server_env(secret, args.app_env), workdir, probe)
            for rnd in range(1, args.rounds + 1):
                print(f"round {rnd} of {args.rounds}", flush=True)
                # Alternate the order, so that neither endpoint always runs first.
                for target in targets if rnd % 2 else reversed(targets):
                    cells += bench_target(target, run, rnd)
    except BenchError as exc:
        print(f"\nbench failed: {exc}", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    best = best_cells(cells)
    print_table(best)
    summary = summarise(
        best, cells, args.clients, info["baseline_commit"] if tree else None, args.min_ratio
    )
    print_summary(summary)
    print(f"\ntotal {elapsed:.0f} s")
    document = {
        "command": shlex.join(
            ["python", "bench/run.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(elapsed, 1),
        "machine": info,
        "settings": {
            **load_settings(args),
            "blocks": args.blocks,
            "endpoints": list(args.endpoints),
            "pg_drivers": list(args.pg_drivers),
            "min_ratio": args.min_ratio,
            "baseline_commit": args.baseline_commit,
            "uvicorn": "1 worker, uvloop, httptools, no access log",
            "app_env": args.app_env,
        },
        "best": [asdict(c) for c in best],
        "all_rounds": [asdict(c) for c in cells],
        **summary,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"results written to {args.output}")
    return 0 if all(c.errors == 0 for c in cells) else 1


if __name__ == "__main__":
    sys.exit(main())
