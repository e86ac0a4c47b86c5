"""The clinician's read path (issue 11), side by side with a bare read of the same table.

    .venv/bin/python bench/read.py [--duration 8] [--warmup 2] [--rounds 1]
        [--only postgresql|sqlite] [--clients 16,64] [--patients 300]
        [--baseline-commit REV] [--factory] [--quiet-wait SECONDS]

On PostgreSQL (default; asyncpg, as `aftercare serve` connects) or SQLite (aiosqlite), this
creates its own database, migrates it with the app's Alembic code and seeds a realistic clinic
with bulk Core inserts (bench/read_seed.py: a few hundred patients, blocks with their
check-ins and reports, several with hundreds and one with 300, open alerts across the clinic)
and a clinician who then signs in for real through POST /v1/auth/token. It measures, each with
wrk at 16 and 64 keep-alive connections after a warm-up:

    me               GET /v1/me
    worklist         GET /v1/alerts (a full page of the clinic's open alerts)
    timeline         GET /v1/patients/{id}/timeline?limit=50 (the featured patient)
    timeline-cursor  the page after it (its next_cursor)
    summary          GET /v1/procedures/{id}/summary (the 300-report block)
    outcomes         GET /v1/patients/{id}/outcomes (three blocks)
    chart            GET /v1/procedures/{id}/chart.svg (the 300-report block)
    bare             bench/bare_read.py: the patient's 50 newest reports, same table and
                     index, as a pydantic model, no auth

Each endpoint gets a server of its own, started in turn, alone on the machine: the real
service as `aftercare serve --no-worker` (one uvicorn worker, with its start-up and access log;
`--factory` serves `uvicorn app.main:create_app --factory` as bench/run.py does instead), or
the bare app under uvicorn. After each warm-up it waits for the server to finish the requests
wrk left behind, then measures. Prints req/s, the ratio to the bare read at the same
connections, p50/p99, the server's and PostgreSQL's CPU per request, the connections the
server opened, peak RSS, and the issue's targets; writes bench/results/read.json. --rounds N
keeps each cell's best round (the order alternates).
--baseline-commit REV also measures the service at REV (rows "<endpoint>@REV"): a git worktree
served with that tree's code, against a database of its own migrated and seeded by that
tree's code. Everything runs on 127.0.0.1; the databases are dropped at the end, also after an
error, Ctrl-C or SIGTERM. About 3.5 minutes at the defaults on 2 cores (about 6.5 with
--baseline-commit). See bench/README.md "Read path (issue 11)".
"""

import argparse
import asyncio
import http.client
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import sys
import tempfile
import time
import urllib.parse
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app.core.migrations import upgrade  # noqa: E402
from bench import bare_read  # noqa: E402
from bench.read_seed import seed_clinic  # noqa: E402
from bench.run import (  # noqa: E402
    DISTURBED_PERCENT,
    HOST,
    MIGRATE_IN_TREE,
    SERVER_START_S,
    BenchError,
    Cell,
    CpuProbe,
    Load,
    Run,
    Server,
    Target,
    add_load_options,
    baseline_tree,
    bench_target,
    best_cells,
    check_load_options,
    check_loopback_dsn,
    load_settings,
    machine,
    pg_databases,
    pg_url,
    pg_version,
    run_in_tree,
    server_env,
)

BENCH_DIR = Path(__file__).resolve().parent
SEED_SCRIPT = BENCH_DIR / "read_seed.py"
RESULTS = BENCH_DIR / "results" / "read.json"
ENDPOINTS = (
    "me",
    "worklist",
    "timeline",
    "timeline-cursor",
    "summary",
    "outcomes",
    "chart",
    "fhir-observations",
    "bare",
)
# Issue 11, "Must show": at 16 connections on PostgreSQL, each at least this share of the bare
# read's throughput, and a p99 under P99_MS.
MIN_RATIO = {
    "timeline": 0.5,
    "timeline-cursor": 0.5,
    "worklist": 0.5,
    "summary": 0.5,
    "me": 0.7,
    "chart": 0.25,
}
P99_MS = 100.0
# Issue 14, "Must show": a FHIR Observation search page within 2x of the REST timeline page
# for the same patient (at least half its throughput).
FHIR_OVER_TIMELINE = 0.5
# `aftercare serve --no-worker` with whichever `app` comes first on the path.
SERVE = (sys.executable, "-c", "from app.cli import main; main()", "serve", "--no-worker")
SERVED_BY = {False: "aftercare serve --no-worker", True: "uvicorn app.main:create_app --factory"}


@dataclass(frozen=True)
class SeededClinic:
    """One seeded database and how to reach its data."""

    url: str  # the servers' (async driver)
    root: Path  # the tree whose code migrated and seeded it, and serves it
    suffix: str  # "" or "@<commit>"
    seeded: dict[str, Any]

    def paths(self) -> dict[str, str]:
        patient, block = self.seeded["patient"], self.seeded["blocks"][-1]
        return {
            "me": "/v1/me",
            "worklist": "/v1/alerts",
            "timeline": f"/v1/patients/{patient}/timeline?limit=50",
            "summary": f"/v1/procedures/{block}/summary",
            "outcomes": f"/v1/patients/{patient}/outcomes",
            "chart": f"/v1/procedures/{block}/chart.svg",
            # Not in a baseline tree from before the FHIR layer: measured for this tree only.
            **(
                {"fhir-observations": f"/fhir/r4/Observation?patient={patient}&_count=50"}
                if not self.suffix
                else {}
            ),
        }


# --- setup -------------------------------------------------------------------------------


def sync_url(url: str) -> str:
    """The seed's URL for a server URL: psycopg for PostgreSQL, pysqlite for SQLite."""
    if url.startswith("sqlite"):
        return url.replace("sqlite+aiosqlite://", "sqlite://", 1)
    return re.sub(r"^postgresql\+\w+://", "postgresql+psycopg://", url)


def prepare(url: str, password: str, patients: int, root: Path = ROOT) -> dict[str, Any]:
    """Migrates and seeds the database with the code of `root` (in subprocesses for another
    tree, whose `app` must come first on the path)."""
    started = time.monotonic()
    if root == ROOT:
        asyncio.run(upgrade(url))
        seeded = seed_clinic(sync_url(url), password, patients)
    else:
        run_in_tree(root, "migrate", [sys.executable, "-c", MIGRATE_IN_TREE, url])
        command = [sys.executable, str(SEED_SCRIPT), sync_url(url), password]
        out = run_in_tree(root, "seed", [*command, "--patients", str(patients)])
        seeded = json.loads(out.strip().splitlines()[-1])
    counts = ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in seeded["counts"].items())
    print(f"seeded {root.name}: {counts} ({time.monotonic() - started:.1f} s)", flush=True)
    return seeded


def sign_in(port: int, email: str, password: str) -> str:
    """A real sign-in (POST /v1/auth/token, the OAuth2 password form): the token names a
    staff session that every request checks."""
    body = urllib.parse.urlencode({"username": email, "password": password})
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        conn.request("POST", "/v1/auth/token", body=body, headers=headers)
        response = conn.getresponse()
        text = response.read().decode(errors="replace")
    finally:
        conn.close()
    if response.status != 200:
        raise BenchError(f"sign-in answered {response.status}: {text[:300]}")
    token: str = json.loads(text)["access_token"]
    return token


def check(name: str, status: int, text: str) -> dict[str, Any]:
    """What every response must be, so that no cell measures an error page or an empty one."""
    if status != 200:
        raise BenchError(f"{name}: answered {status}: {text[:500]}")
    kind = name.split("@", 1)[0]
    if kind == "chart":
        if not text.startswith("<svg"):
            raise BenchError(f"{name}: not an SVG: {text[:200]}")
        return {}
    body: dict[str, Any] = json.loads(text)
    if kind == "fhir-observations":
        links = {link["relation"] for link in body.get("link", [])}
        if len(body.get("entry", [])) != 50 or "next" not in links:
            raise BenchError(f"{name}: not a full searchset page with a next link")
        return body
    if kind in ("worklist", "timeline", "timeline-cursor", "bare") and len(body["items"]) != 50:
        raise BenchError(f"{name}: the page holds {len(body['items'])} items, not 50")
    if kind in ("worklist", "timeline") and not body["next_cursor"]:
        raise BenchError(f"{name}: a full page without a next_cursor")
    return body


def probe(
    clinic: SeededClinic,
    driver: str,
    password: str,
    env: dict[str, str],
    workdir: Path,
    command: tuple[str, ...],
) -> list[Target]:
    """Starts the service once: signs the clinician in, checks each endpoint's answer, and
    takes the timeline's next_cursor for the second page. Returns the endpoints' targets."""
    paths = clinic.paths()
    database = "sqlite" if clinic.url.startswith("sqlite") else "postgresql"

    def target(name: str, path: str, token: str = "") -> Target:
        endpoint = name + clinic.suffix
        return Target(
            database, endpoint, driver, clinic.url, path, token, (), clinic.root, command=command
        )

    log = workdir / f"probe{clinic.suffix}.log"
    with Server(target("me", paths["me"]), env, log) as server:
        token = sign_in(server.port, clinic.seeded["email"], password)
        for name, path in list(paths.items()):
            body = check(name + clinic.suffix, *server.request("GET", path, None, token))
            if name == "timeline":
                cursor = urllib.parse.quote(body["next_cursor"], safe="")
                paths["timeline-cursor"] = f"{path}&cursor={cursor}"
                status, text = server.request("GET", paths["timeline-cursor"], None, token)
                check("timeline-cursor" + clinic.suffix, status, text)
    order = [n for n in ENDPOINTS if n in paths]
    return [target(name, paths[name], token) for name in order]


def bare_target(clinic: SeededClinic, driver: str, env: dict[str, str], workdir: Path) -> Target:
    database = "sqlite" if clinic.url.startswith("sqlite") else "postgresql"
    path = bare_read.PATH.format(patient_id=clinic.seeded["patient"])
    target = Target(
        database,
        "bare",
        driver,
        clinic.url,
        path,
        app_spec="bench.bare_read:create_app",
        url_variable=bare_read.URL_VARIABLE,
    )
    with Server(target, env, workdir / "probe-bare.log") as server:
        check("bare", *server.request("GET", path))
    return target


# --- report ------------------------------------------------------------------------------


def ratios(best: list[Cell]) -> dict[tuple[str, str, int], float]:
    """(database, endpoint, connections) -> throughput over the bare read's, same database
    and connections."""
    bare = {(c.database, c.clients): c.rps for c in best if c.endpoint == "bare"}
    return {
        (c.database, c.endpoint, c.clients): round(c.rps / bare[(c.database, c.clients)], 3)
        for c in best
        if (c.database, c.clients) in bare and bare[(c.database, c.clients)] > 0
    }


COLUMNS = (
    ("endpoint", 24),
    ("conns", 5),
    ("req/s", 7),
    ("x bare", 6),
    ("p50 ms", 7),
    ("p99 ms", 7),
    ("errors", 6),
    ("srv CPU ms/req", 14),
    ("srv CPU", 7),
    ("PG CPU ms/req", 13),
    ("new PG conns", 12),
    ("peak RSS MB", 11),
    ("other CPU", 9),
)


def row(c: Cell, ratio: float | None) -> list[str]:
    pg = c.postgres_cpu_ms_per_request
    return [
        c.endpoint,
        str(c.clients),
        f"{c.rps:.1f}",
        "-" if ratio is None else f"{ratio:.2f}",
        f"{c.p50_ms:.1f}",
        f"{c.p99_ms:.1f}",
        str(c.errors),
        f"{c.server_cpu_ms_per_request:.2f}",
        f"{c.server_cpu_percent:.0f}%",
        "-" if pg is None else f"{pg:.2f}",
        "-" if c.postgres_sessions_opened is None else str(c.postgres_sessions_opened),
        f"{c.peak_rss_mb:.0f}",
        f"{c.other_cpu_percent:.0f}%",
    ]


def print_table(best: list[Cell], ratio: dict[tuple[str, str, int], float]) -> None:
    def line(values: list[str]) -> str:
        return " ".join(
            f"{v:<{w}}" if i == 0 else f"{v:>{w}}"
            for i, (v, (_, w)) in enumerate(zip(values, COLUMNS, strict=True))
        )

    header = line([name for name, _ in COLUMNS])
    for database in ("postgresql", "sqlite"):
        cells = [c for c in best if c.database == database]
        if cells:
            print(f"\n{database} ({cells[0].driver})\n{header}\n{'-' * len(header)}")
        for c in cells:
            print(line(row(c, ratio.get((c.database, c.endpoint, c.clients)))))


def versus_baseline(best: list[Cell], short: str | None) -> list[dict[str, Any]]:
    """Each endpoint's throughput over its "<endpoint>@<short>" twin's (--baseline-commit)."""
    index = {(c.database, c.endpoint, c.clients): c for c in best}
    rows = []
    for c in best:
        base = index.get((c.database, f"{c.endpoint}@{short}", c.clients)) if short else None
        if base is not None and base.rps > 0:
            rows.append(
                {
                    "endpoint": c.endpoint,
                    "clients": c.clients,
                    "current_rps": c.rps,
                    "baseline_rps": base.rps,
                    "ratio": round(c.rps / base.rps, 3),
                    "current_p99_ms": c.p99_ms,
                    "baseline_p99_ms": base.p99_ms,
                }
            )
    return rows


def issue_targets(
    best: list[Cell], ratio: dict[tuple[str, str, int], float]
) -> list[dict[str, Any]]:
    """Issue 11's read targets and issue 14's FHIR search one, on PostgreSQL at 16
    connections, for the current code."""
    got = []
    for c in best:
        if c.database != "postgresql" or c.clients != 16 or c.endpoint not in MIN_RATIO:
            continue
        share = ratio.get((c.database, c.endpoint, c.clients))
        if share is not None:
            got.append(
                {
                    "target": f"{c.endpoint} >= {MIN_RATIO[c.endpoint]:g}x bare (16 conns)",
                    "measured": share,
                    "met": share >= MIN_RATIO[c.endpoint],
                }
            )
        got.append(
            {
                "target": f"{c.endpoint} p99 < {P99_MS:g} ms (16 conns)",
                "measured": c.p99_ms,
                "met": c.p99_ms < P99_MS,
            }
        )
    timeline = {c.clients: c.rps for c in best if c.endpoint == "timeline"}
    for c in best:
        if c.database == "postgresql" and c.endpoint == "fhir-observations" and c.clients == 16:
            share = round(c.rps / timeline[16], 3) if timeline.get(16) else 0.0
            got.append(
                {
                    "target": f"fhir-observations >= {FHIR_OVER_TIMELINE:g}x timeline (16 conns)",
                    "measured": share,
                    "met": share >= FHIR_OVER_TIMELINE,
                }
            )
    return got


# --- main --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="The clinician's read path vs a bare read of the same table (issue 11)."
    )
    add_load_options(parser, rounds=1)
    parser.add_argument("--only", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--patients", type=int, default=300, help="patients in the clinic")
    parser.add_argument(
        "--baseline-commit",
        metavar="REV",
        help="also measure the service as it was at this git commit, side by side",
    )
    parser.add_argument(
        "--factory",
        action="store_true",
        help="serve with `uvicorn app.main:create_app --factory` (as bench/run.py does) "
        "instead of `aftercare serve --no-worker`",
    )
    parser.add_argument(
        "--endpoints",
        default=",".join(ENDPOINTS),
        help="comma-separated subset of: " + ", ".join(ENDPOINTS) + " (the bare read always runs)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON results file")
    args = parser.parse_args(argv)
    unknown = set(args.endpoints.split(",")) - set(ENDPOINTS)
    if unknown:
        parser.error(f"unknown endpoints: {', '.join(sorted(unknown))}")
    check_load_options(parser, args)
    if not 10 <= args.patients <= 20000:
        parser.error("--patients must be between 10 and 20000")
    return args


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
    load = Load(args.duration, args.warmup, args.threads, args.timeout, args.quiet_wait, drain=True)
    command = () if args.factory else SERVE
    secret = secrets.token_urlsafe(48)
    password = secrets.token_urlsafe(18)
    env = server_env(secret, args.app_env)
    info = machine()
    info["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    servers = len(ENDPOINTS) + (len(ENDPOINTS) - 1 if args.baseline_commit else 0)
    per_server = SERVER_START_S + len(args.clients) * (load.warmup + load.duration + 0.5)
    estimate = 20 + args.rounds * servers * per_server
    print(
        f"{servers} servers x {len(args.clients)} connection counts x {args.rounds} rounds: "
        f"about {estimate / 60:.1f} min",
        flush=True,
    )
    started = time.monotonic()
    cells: list[Cell] = []
    run_id = secrets.token_hex(4)
    probe_cpu = CpuProbe()
    seeded: dict[str, Any] = {}
    measured: list[Target] = []
    try:
        with tempfile.TemporaryDirectory(prefix="aftercare-read-") as tmp, ExitStack() as stack:
            workdir = Path(tmp)
            stack.callback(probe_cpu.close)
            tree: tuple[str, Path] | None = None
            if args.baseline_commit:
                tree = stack.enter_context(baseline_tree(args.baseline_commit))
                info["baseline_commit"] = tree[0]
            if args.only == "postgresql":
                check_loopback_dsn(args.pg_dsn)
                info["postgresql"] = pg_version(args.pg_dsn)
                names = [f"aftercare_read_{run_id}"] + (
                    [f"aftercare_read_{run_id}_base"] if tree else []
                )
                stack.enter_context(pg_databases(args.pg_dsn, names))
                probe_cpu.watch_postgres(args.pg_dsn, names)
                driver = "asyncpg"
                urls = [pg_url(args.pg_dsn, driver, name) for name in names]
            else:
                driver = "aiosqlite"
                urls = [f"sqlite+aiosqlite:///{workdir / name}" for name in ("read.db", "base.db")]
            clinic = SeededClinic(urls[0], ROOT, "", prepare(urls[0], password, args.patients))
            seeded = clinic.seeded
            wanted = set(args.endpoints.split(","))
            targets = probe(clinic, driver, password, env, workdir, command)
            targets = [t for t in targets if t.endpoint.split("@")[0] in wanted]
            targets.append(bare_target(clinic, driver, env, workdir))
            if tree:
                short, root = tree
                base = SeededClinic(
                    urls[1], root, f"@{short}", prepare(urls[1], password, args.patients, root)
                )
                based = probe(base, driver, password, env, workdir, command)
                targets += [t for t in based if t.endpoint.split("@")[0] in wanted]
            measured = targets
            run = Run(("", ""), load, args.clients, env, workdir, probe_cpu)
            for rnd in range(1, args.rounds + 1):
                print(f"round {rnd} of {args.rounds}", flush=True)
                # Alternate the order, so that no endpoint always runs first.
                for target in targets if rnd % 2 else reversed(targets):
                    cells += bench_target(target, run, rnd)
    except BenchError as exc:
        print(f"\nbench failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    elapsed = time.monotonic() - started
    info["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    best = best_cells(cells, ENDPOINTS)
    ratio = ratios(best)
    print_table(best, ratio)
    met = issue_targets(best, ratio)
    versus = versus_baseline(best, info.get("baseline_commit"))
    if versus:
        print(f"\ncurrent / {info['baseline_commit']} throughput")
    for v in versus:
        print(
            f"  {v['endpoint']:<16} {v['clients']:>3} conns: {v['current_rps']:.1f} / "
            f"{v['baseline_rps']:.1f} req/s = {v['ratio']:.2f}x (p99 {v['current_p99_ms']:.1f} / "
            f"{v['baseline_p99_ms']:.1f} ms)"
        )
    if met:
        print("\ntargets, issues 11 and 14 (PostgreSQL, 16 connections)")
    for t in met:
        print(f"  [{'met' if t['met'] else 'NOT MET'}] {t['target']} (measured {t['measured']})")
    disturbed = [c for c in best if c.other_cpu_percent > DISTURBED_PERCENT]
    if disturbed:
        print(
            f"\nWARNING: other processes used more than {DISTURBED_PERCENT:.0f}% of a core during "
            "these cells, so their figures are low; rerun on a quiet machine (--quiet-wait 60):"
        )
        for c in disturbed:
            print(f"  {c.endpoint} {c.clients} conns: other CPU {c.other_cpu_percent}%")
    few = [f"{c.endpoint} {c.clients} ({c.requests})" for c in best if c.requests < 10 * c.clients]
    if few:
        print(
            "\nNOTE: fewer than 10 requests per connection completed in these cells, so the "
            "work left in flight at the end weighs on their req/s and CPU per request (a "
            f"longer --duration steadies them): {', '.join(few)}"
        )
    before, after = info["load_average_before"], info["load_average_after"]
    print(f"\ntotal {elapsed:.0f} s; load average {before} before, {after} after")
    document = {
        "command": shlex.join(
            ["python", "bench/read.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(elapsed, 1),
        "machine": info,
        "settings": {
            "database": args.only,
            **load_settings(args),
            "patients": args.patients,
            "baseline_commit": args.baseline_commit,
            "server": SERVED_BY[args.factory],
            "app_env": args.app_env,
        },
        "seeded": seeded.get("counts", {}),
        "paths": {t.endpoint: t.path for t in measured},
        "best": [
            {**asdict(c), "ratio_to_bare": ratio.get((c.database, c.endpoint, c.clients))}
            for c in best
        ],
        "all_rounds": [asdict(c) for c in cells],
        "targets": met,
        "versus_baseline": versus,
        "disturbed_cells": [f"{c.endpoint} {c.clients}" for c in disturbed],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(f"results written to {args.output}")
    # A cell in which no request completed measured nothing: a failure too.
    return 0 if all(c.errors == 0 and c.requests > 0 for c in cells) else 1


if __name__ == "__main__":
    sys.exit(main())
