"""A patient's timeline page at 10,000 and at 1,000,000 reports, and the plan of its query.

    .venv/bin/python bench/timeline_bench.py [--database postgresql|sqlite|both]
        [--patients 10000] [--reports-per-patient 100] [--requests 300] [--keep|--reuse STATE]

Per database, seeds two fresh, Alembic-migrated databases: 100 patients (10k reports) and
--patients patients (1M reports), each with one block performed 15 days ago, its 7 check-ins,
its reports over those 15 days (inserted in time order, so a patient's rows lie far apart as in
real use) and an alert for 1 patient in 10. Then times GET /v1/patients/{id}/timeline?limit=50
and the page after it (its next_cursor) for random patients, through the real app in-process,
alternating between the two databases so that other load on the machine weighs on both alike;
and EXPLAINs the exact statement the service ran. Databases are dropped at the end, also on
error, Ctrl-C or SIGTERM; --keep STATE keeps them so that --reuse STATE measures them again.
Writes bench/results/timeline.json; see bench/README.md "Timeline at 1M reports".
"""

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from sqlalchemy import Connection, Table, create_engine, event, insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app.checkins.service import schedule_checkins  # noqa: E402
from app.core.config import Settings  # noqa: E402
from app.core.migrations import upgrade  # noqa: E402
from app.core.security import Principal, SigningKey, issue_access_token, key_id_of  # noqa: E402
from app.credentials.models import StaffSession  # noqa: E402
from app.main import create_app  # noqa: E402
from app.models import Alert, Checkin, Clinic, Patient, Procedure, Report, StaffUser  # noqa: E402

PG_ADMIN = os.environ.get("AFTERCARE_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "bench-secret-" + uuid.uuid4().hex + uuid.uuid4().hex
KEY = SigningKey(key_id_of(SECRET), SECRET)  # the app lists its kid in signing_keys at start-up
CHUNK = 5000
WARMUP = 30
INDEXES = {
    "report": "ix_reports_patient_recorded",
    "alert": "ix_alerts_patient_created",
    "procedure": "ix_procedures_patient_performed",
}
EFFECTS: tuple[list[dict[str, str]], ...] = (
    [],
    [{"kind": "soreness", "severity": "mild"}],
    [],
    [{"kind": "leg_warmth", "severity": "moderate"}],
)


def add(conn: Connection, model: Any, rows: list[dict[str, Any]]) -> None:
    """Core executemany, CHUNK rows at a time."""
    for i in range(0, len(rows), CHUNK):
        conn.execute(insert(cast(Table, model.__table__)), rows[i : i + CHUNK])


def seed(sync_url: str, patients: int, per_patient: int) -> dict[str, Any]:
    """Bulk Core inserts; returns what the measurement needs (clinic, clinician, the staff
    session its tokens name, patient ids)."""
    now = datetime.now(UTC)
    engine = create_engine(sync_url)
    if sync_url.startswith("sqlite"):  # a throwaway file: no fsync, a large page cache

        @event.listens_for(engine, "connect")
        def _fast(dbapi_connection: Any, _: Any) -> None:
            dbapi_connection.execute("PRAGMA synchronous=OFF")
            dbapi_connection.execute("PRAGMA cache_size=-1000000")

    clinic, staff, session = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    pids = [uuid.uuid4() for _ in range(patients)]
    blocks = [uuid.uuid4() for _ in range(patients)]
    performed = [now - timedelta(days=15, minutes=i % 60) for i in range(patients)]
    step = (timedelta(days=15) - timedelta(hours=2)) / per_patient
    base = {
        "side": "left",
        "levels": ["L2", "L3"],
        "indication": "crps",
        "baseline_pain": 7,
        "baseline_symptoms": [],
        "sedation": False,
    }
    anesthetic = {"drug": "bupivacaine", "concentration_percent": 0.25, "volume_ml": 10}
    with engine.begin() as conn:
        add(
            conn,
            Clinic,
            [
                {
                    "id": clinic,
                    "name": "Bench clinic",
                    "created_at": now,
                    "escalate_emergency_minutes": 15,
                    "escalate_urgent_minutes": 120,
                }
            ],
        )
        add(
            conn,
            StaffUser,
            [
                {
                    "id": staff,
                    "clinic_id": clinic,
                    "email": f"tl-{staff.hex[:8]}@clinic.test",
                    "name": "Bench clinician",
                    "role": "clinician",
                    "password_hash": "!",
                    "created_at": now,
                }
            ],
        )
        # Every request checks its token's session (app/auth/identity.py); long-lived, for --reuse.
        add(
            conn,
            StaffSession,
            [
                {
                    "id": session,
                    "user_id": staff,
                    "clinic_id": clinic,
                    "created_at": now,
                    "expires_at": now + timedelta(days=3650),
                }
            ],
        )
        rows = [
            {
                "id": p,
                "clinic_id": clinic,
                "mrn": f"MRN-TL-{i:06d}",
                "display_name": f"Patient {i}",
                "timezone": "America/Chicago",
                "temperature_unit": "F",
                "created_at": now,
                "updated_at": now,
            }
            for i, p in enumerate(pids)
        ]
        add(conn, Patient, rows)
        rows = [
            {
                **base,
                "id": b,
                "clinic_id": clinic,
                "patient_id": p,
                "sequence_number": 1,
                "performed_at": at,
                "anesthetic": anesthetic,
                "created_by": staff,
                "created_at": at,
            }
            for p, b, at in zip(pids, blocks, performed, strict=True)
        ]
        add(conn, Procedure, rows)
        columns = [c.key for c in Checkin.__table__.columns]
        rows = [
            {k: getattr(c, k) for k in columns}
            for b, at in zip(blocks, performed, strict=True)
            for c in schedule_checkins(b, at, now)
        ]
        add(conn, Checkin, rows)
        batch, alerts = [], []
        for j in range(per_patient):  # time order: a patient's reports lie far apart
            for i, (p, b, at) in enumerate(zip(pids, blocks, performed, strict=True)):
                recorded = at + timedelta(hours=1, seconds=i % 50) + step * j
                rid = uuid.uuid4()
                temperature = (
                    {"temperature_value": 99.1, "temperature_unit": "F", "temperature_c": 37.3}
                    if j % 10 == 0
                    else {
                        "temperature_value": None,
                        "temperature_unit": None,
                        "temperature_c": None,
                    }
                )
                # Columns left out are NULL: relief_ended_at, notes, response...
                batch.append(
                    {
                        "id": rid,
                        "clinic_id": clinic,
                        "patient_id": p,
                        "procedure_id": b,
                        "client_report_id": uuid.uuid4(),
                        "request_digest": rid.hex * 2,
                        "recorded_at": recorded,
                        "received_at": recorded + timedelta(seconds=2),
                        "pain_score": max(0, 7 - (j * 7) // per_patient - i % 3),
                        "relief_percent": (j * 90) // per_patient if j % 2 else None,
                        "side_effects": EFFECTS[j % 4],
                        **temperature,
                    }
                )
                if i % 10 == 0 and j == per_patient // 2:
                    alerts.append(
                        {
                            "id": uuid.uuid4(),
                            "clinic_id": clinic,
                            "patient_id": p,
                            "procedure_id": b,
                            "report_id": rid,
                            "rule_id": "fever",
                            "rule_version": 1,
                            "severity": "urgent",
                            "severity_rank": 1,
                            "title": "Fever after the block",
                            "explanation": ["Temperature 38.4 °C"],
                            "status": "open",
                            "created_at": recorded,
                            "last_triggered_at": recorded,
                            "occurrences": 1,
                        }
                    )
                if len(batch) >= CHUNK:
                    add(conn, Report, batch)
                    batch = []
        if batch:
            add(conn, Report, batch)
        add(conn, Alert, alerts)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # PostgreSQL: VACUUM too, or autovacuum would start on the fresh 1M rows mid-measurement.
        conn.execute(text("ANALYZE" if sync_url.startswith("sqlite") else "VACUUM (ANALYZE)"))
    engine.dispose()
    return {"clinic": clinic, "staff": staff, "session": session, "patients": pids}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def stats(samples: list[tuple[float, float]]) -> dict[str, float]:
    """Wall-clock percentiles, and the median CPU time of this process (the app's share, which
    other load on the machine barely changes)."""
    ms = [wall * 1000 for wall, _ in samples]
    cpu = percentile([c * 1000 for _, c in samples], 50)
    return {
        "median": percentile(ms, 50),
        "p90": percentile(ms, 90),
        "p99": percentile(ms, 99),
        "cpu": cpu,
    }


async def open_app(stack: AsyncExitStack, db: dict[str, Any]) -> tuple[Any, Any]:
    """The real app on `db`, in-process; returns (page(pid, cursor) -> (wall, cpu), cursor; app)."""
    app = create_app(Settings(database_url=db["url"], secret_key=SECRET))
    data = db["data"]
    # The lifespan lists KEY in signing_keys (as for AFTERCARE_SECRET_KEY) before any request.
    await stack.enter_async_context(app.router.lifespan_context(app))
    principal = Principal(
        uuid.UUID(data["staff"]),
        "clinician",
        uuid.UUID(data["clinic"]),
        None,
        uuid.UUID(data["session"]),
    )
    token = issue_access_token(
        principal, key=KEY, now=datetime.now(UTC), lifetime=timedelta(days=1)
    )
    headers = {"authorization": f"Bearer {token}"}
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers)
    await stack.enter_async_context(client)

    async def page(pid: str, cursor: str | None = None) -> tuple[tuple[float, float], str]:
        params: dict[str, str | int] = {"limit": 50, **({"cursor": cursor} if cursor else {})}
        started, cpu = time.perf_counter(), time.process_time()
        response = await client.get(f"/v1/patients/{pid}/timeline", params=params)
        elapsed = (time.perf_counter() - started, time.process_time() - cpu)
        body = response.json()
        assert response.status_code == 200 and len(body["items"]) == 50, response.text[:300]
        return elapsed, body["next_cursor"]

    return page, app


async def measure(dbs: list[dict[str, Any]], requests: int) -> list[dict[str, Any]]:
    """Requests to the databases alternate (A B B A A B ...), so whatever else loads the machine
    weighs on both alike. Each: a random patient's first page, then the page after it."""
    rng = random.Random()
    async with AsyncExitStack() as stack:
        apps = [await open_app(stack, db) for db in dbs]
        got: list[dict[str, Any]] = [{"first": [], "second": [], "statements": []} for _ in dbs]
        for i in range(WARMUP + requests):
            for k in range(len(dbs)) if i % 2 == 0 else reversed(range(len(dbs))):
                page, pid = apps[k][0], rng.choice(dbs[k]["data"]["patients"])
                first, cursor = await page(pid)
                second, _ = await page(pid, cursor)
                if i >= WARMUP:
                    got[k]["first"].append(first)
                    got[k]["second"].append(second)
        for (page, app), out, db in zip(apps, got, dbs, strict=True):
            # The exact statements and parameters the service sends, for EXPLAIN.
            def keep(_c: Any, _cur: Any, sql: str, params: Any, *_: Any, out: Any = out) -> None:
                if "UNION ALL" in sql:
                    out["statements"].append((sql, params))

            engine = app.state.services.db.engine.sync_engine
            event.listen(engine, "before_cursor_execute", keep)
            _, cursor = await page(db["data"]["patients"][0])
            await page(db["data"]["patients"][0], cursor)
            event.remove(engine, "before_cursor_execute", keep)
    return got


def pg_plans(dsn: str, statement: str, params: Any) -> dict[str, list[str]]:
    """EXPLAIN ANALYZE with the values inlined (a custom plan, as asyncpg's first 5 runs get)
    and of the prepared statement forced to a generic plan (what PostgreSQL may switch to)."""
    values = {f"p{i + 1}": v for i, v in enumerate(params)}
    inline = re.sub(r"\$(\d+)", r"%(p\1)s", statement)
    args = ", ".join(f"%(p{i + 1})s" for i in range(len(params)))
    with psycopg.connect(dsn, cursor_factory=psycopg.ClientCursor) as conn:
        custom = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + inline, values).fetchall()
        conn.execute("PREPARE tl AS " + statement)
        conn.execute("SET plan_cache_mode = force_generic_plan")
        generic = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE tl({args})", values).fetchall()
    return {"custom": [r[0] for r in custom], "generic": [r[0] for r in generic]}


def sqlite_plan(path: str, statement: str, params: Any) -> dict[str, list[str]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("EXPLAIN QUERY PLAN " + statement, params).fetchall()
    depth: dict[int, int] = {0: -1}
    lines = []
    for node, parent, _, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + detail)
    return {"plan": lines}


def check_indexes(plans: dict[str, list[str]]) -> dict[str, bool]:
    return {
        kind: all(name in "\n".join(lines) for lines in plans.values())
        for kind, name in INDEXES.items()
    }


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def prepare(kind: str, size: str, patients: int, args: Any, folder: str) -> dict[str, Any]:
    if kind == "postgresql":
        name = f"aftercare_bench_tl_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        at = make_url(PG_ADMIN).set(database=name)
        url, sync_url, where = (
            at.set(drivername=d).render_as_string(False)
            for d in ("postgresql+asyncpg", "postgresql+psycopg", "postgresql")
        )
    else:
        name = where = f"{folder}/{size}.db"
        url, sync_url = f"sqlite+aiosqlite:///{where}", f"sqlite:///{where}"
    reports = patients * args.reports_per_patient
    return {"name": name, "url": url, "sync_url": sync_url, "where": where, "reports": reports}


def seed_db(db: dict[str, Any], patients: int, per_patient: int) -> None:
    asyncio.run(upgrade(db["url"]))
    started = time.perf_counter()
    data = seed(db["sync_url"], patients, per_patient)
    db["seed_seconds"] = round(time.perf_counter() - started, 1)
    db["data"] = {
        "clinic": str(data["clinic"]),
        "staff": str(data["staff"]),
        "session": str(data["session"]),
        "patients": [str(p) for p in data["patients"]],
    }
    print(
        f"{db['url'].split('+')[0]}: seeded {db['reports']:,} reports in {db['seed_seconds']} s (with ANALYZE)",
        flush=True,
    )


def drop(dbs: list[dict[str, Any]]) -> None:
    for db in dbs:
        if db["url"].startswith("postgresql"):
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db["name"]}" WITH (FORCE)')
        elif Path(db["name"]).parent.name.startswith("aftercare-tl-"):  # our temporary folder
            shutil.rmtree(Path(db["name"]).parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--patients", type=int, default=10000)
    parser.add_argument("--reports-per-patient", type=int, default=100)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--keep", metavar="STATE", help="keep the databases, listed in STATE")
    parser.add_argument("--reuse", metavar="STATE", help="measure the kept databases again")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "timeline.json"))
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM cleans up like Ctrl-C
    kinds = ["postgresql", "sqlite"] if args.database == "both" else [args.database]
    sizes = {"small": 100, "large": args.patients}
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_before": load(),
        "args": vars(args),
        "cells": [],
        "seed_seconds": {},
        "plans": {},
    }
    folder = tempfile.mkdtemp(prefix="aftercare-tl-")
    dbs: dict[str, dict[str, Any]] = json.loads(Path(args.reuse).read_text()) if args.reuse else {}
    try:
        for kind in kinds:
            for size, patients in sizes.items():
                if f"{kind} {size}" not in dbs:  # recorded before seeding: a failure drops it too
                    db = dbs[f"{kind} {size}"] = prepare(kind, size, patients, args, folder)
                    seed_db(db, patients, args.reports_per_patient)
                db = dbs[f"{kind} {size}"]
                result["seed_seconds"][f"{kind} {db['reports']:,}"] = db["seed_seconds"]
            pair = [dbs[f"{kind} {size}"] for size in sizes]
            got = asyncio.run(measure(pair, args.requests))
            for db, out in zip(pair, got, strict=True):
                for label, (statement, params) in zip(
                    ("first page", "cursor page"), out["statements"], strict=False
                ):
                    plans = (
                        pg_plans(db["where"], statement, params)
                        if kind == "postgresql"
                        else sqlite_plan(db["where"], statement, params)
                    )
                    result["plans"][f"{kind} {db['reports']:,} {label}"] = {
                        "sql": statement,
                        **plans,
                        "indexes_used": check_indexes(plans),
                        "large": db is pair[-1],
                    }
            for page in ("first", "second"):
                cells = [
                    {"database": kind, "reports": db["reports"], "page": page, **stats(out[page])}
                    for db, out in zip(pair, got, strict=True)
                ]
                for cell in cells:
                    result["cells"].append(
                        {**cell, "ratio": round(cells[1]["median"] / cells[0]["median"], 2)}
                    )
    finally:
        if args.keep:
            Path(args.keep).write_text(json.dumps(dbs, indent=1) + "\n")
            print(f"kept the databases; measure again with --reuse {args.keep}")
        else:
            drop(list(dbs.values()))
        with suppress(OSError):
            os.rmdir(folder)
    result["load_after"] = load()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2, default=str) + "\n")
    for key, plan in result["plans"].items():
        print(f"\n### {key}: indexes used {plan['indexes_used']}")
        for name, lines in plan.items():
            if isinstance(lines, list):
                print(f"-- {name}\n" + "\n".join(lines))
    print(f"\nload before: {result['load_before']}\nload after:  {result['load_after']}\n")
    print(
        "| database | reports | page | median ms | p90 ms | p99 ms | app CPU ms | median 1M / 10k |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for c in result["cells"]:
        print(
            f"| {c['database']} | {c['reports']:,} | {c['page']} | {c['median']:.2f} | {c['p90']:.2f} | {c['p99']:.2f} | {c['cpu']:.2f} | {c['ratio']:.2f} |"
        )
    for key, plan in result["plans"].items():
        # On the 10k database PostgreSQL rightly scans the 1-page alerts table instead.
        if plan["large"] and (
            missing := [k for k, used in plan["indexes_used"].items() if not used]
        ):
            print(f"NOTE {key}: no {', '.join(INDEXES[k] for k in missing)} in some plan")
    if any(c["ratio"] > 1.5 for c in result["cells"]):
        print("NOTE: median 1M / 10k above the 1.5 target")
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
