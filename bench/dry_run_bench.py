"""The rule-set dry run over 100,000 stored reports on PostgreSQL: the service call, and the
HTTP call for the first page.

    .venv/bin/python bench/dry_run_bench.py [--reports 100000] [--runs 3]

Creates a fresh PostgreSQL database (AFTERCARE_BENCH_PG_DSN, default the tests' server on
127.0.0.1:5432), migrates it with Alembic and seeds, with bulk Core inserts, one clinic on rule
set 1 with --reports reports across realistic blocks: patients with one to three blocks,
reports at the check-in times and in between over 14 days, side effects mostly expected ones
with some that the two rule sets judge differently. Then times `app.rulesets.service.dry_run`
for rule set 2 (--runs times; the median and the best), and POST /v1/rules/dry-run?limit=50
through the real app in-process (asyncpg, as `aftercare serve` connects). Target: under 30 s.
The database is dropped at the end, also on error, Ctrl-C or SIGTERM. See bench/README.md
"Dry run".
"""

import argparse
import asyncio
import os
import random
import signal
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from sqlalchemy import Table, create_engine, insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from app.core.config import Settings  # noqa: E402
from app.core.migrations import upgrade  # noqa: E402
from app.core.security import Principal, SigningKey, issue_access_token, key_id_of  # noqa: E402
from app.credentials.models import StaffSession  # noqa: E402
from app.main import build_services, create_app  # noqa: E402
from app.models import Clinic, Patient, Procedure, Report, StaffUser  # noqa: E402
from app.rulesets.schemas import DryRunIn  # noqa: E402
from app.rulesets.service import dry_run  # noqa: E402

PG_ADMIN = os.environ.get("AFTERCARE_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "bench-secret-" + uuid.uuid4().hex + uuid.uuid4().hex
CHUNK = 5000
CHECKIN_HOURS = (1, 4, 24, 48, 72, 168, 336)
# Weighted side-effect mixes: mostly the block's expected effects, some of what v1 and v2
# judge differently (red-flags-v2.md), a few real red flags.
MIXES: list[tuple[int, list[tuple[str, str]]]] = [
    (30, []),
    (20, [("soreness", "mild")]),
    (12, [("leg_warmth", "mild"), ("numbness", "mild")]),
    (8, [("leg_weakness", "mild")]),
    (6, [("dizziness", "mild")]),
    (4, [("dizziness", "moderate")]),
    (2, [("dizziness", "severe")]),
    (4, [("headache", "mild"), ("nausea", "mild")]),
    (2, [("nausea", "severe")]),
    (2, [("chills", "mild"), ("leg_weakness", "mild")]),
    (2, [("site_redness", "mild")]),
    (2, [("bleeding", "mild")]),
    (1, [("flank_pain", "mild"), ("dizziness", "moderate")]),
    (1, [("neck_stiffness", "moderate")]),
    (1, [("burning_pain", "moderate")]),
    (1, [("rash_or_itching", "mild")]),
    (1, [("swelling", "moderate"), ("bruising", "mild")]),
    (1, [("other", "severe")]),
]
WEIGHTS = [w for w, _ in MIXES]
STEROID = {"drug": "dexamethasone", "dose_mg": 4}
ANESTHETIC = {"drug": "bupivacaine", "concentration_percent": 0.25, "volume_ml": 10}


def add(conn: Any, model: Any, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), CHUNK):
        conn.execute(insert(cast(Table, model.__table__)), rows[i : i + CHUNK])


def block_times(rng: random.Random, performed: datetime, count: int) -> list[datetime]:
    """The check-in times first, then random moments in the 14 days, a few at one instant."""
    hours = [h + rng.uniform(-0.3, 0.5) for h in CHECKIN_HOURS[:count]]
    hours += [rng.uniform(0.5, 340) for _ in range(count - len(hours))]
    times = [performed + timedelta(hours=max(0.1, h)) for h in hours]
    if count > 3 and rng.random() < 0.05:  # a double tap: two reports at the same instant
        times[-1] = times[-2]
    return times


def report_row(rng: random.Random, ids: dict[str, Any], at: datetime) -> dict[str, Any]:
    rid = uuid.uuid4()
    effects = rng.choices([m for _, m in MIXES], WEIGHTS)[0]
    fever = rng.random() < 0.02
    pain = max(0, min(10, 7 - rng.randint(0, 6) + (4 if rng.random() < 0.03 else 0)))
    return {
        **ids,
        "id": rid,
        "client_report_id": uuid.uuid4(),
        "request_digest": rid.hex * 2,
        "recorded_at": at,
        "received_at": at + timedelta(seconds=3),
        "pain_score": pain,
        "relief_percent": rng.choice([None, rng.randint(0, 100)]),
        "temperature_value": 101.2 if fever else 98.6,
        "temperature_unit": "F",
        "temperature_c": 38.4 if fever else 37.0,
        "side_effects": [{"kind": k, "severity": s} for k, s in effects],
        "rule_set_version": 1,
    }


def seed(sync_url: str, reports: int) -> dict[str, uuid.UUID]:
    rng = random.Random(10)
    now = datetime.now(UTC)
    clinic, admin, session = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    engine = create_engine(sync_url)
    with engine.begin() as conn:
        add(
            conn,
            Clinic,
            [{"id": clinic, "name": "Dry-run bench", "created_at": now, "rule_set_version": 1}],
        )
        add(
            conn,
            StaffUser,
            [
                {
                    "id": admin,
                    "clinic_id": clinic,
                    "email": f"dr-{admin.hex[:8]}@clinic.test",
                    "name": "Bench admin",
                    "role": "admin",
                    "password_hash": "!",
                    "created_at": now,
                }
            ],
        )
        add(
            conn,
            StaffSession,
            [
                {
                    "id": session,
                    "user_id": admin,
                    "clinic_id": clinic,
                    "created_at": now,
                    "expires_at": now + timedelta(days=1),
                }
            ],
        )
        patients, blocks, rows, made, n = [], [], [], 0, 0
        while made < reports:
            patient = uuid.uuid4()
            patients.append(
                {
                    "id": patient,
                    "clinic_id": clinic,
                    "mrn": f"MRN-DR-{n:06d}",
                    "display_name": f"Patient {n}",
                    "timezone": "America/Chicago",
                    "temperature_unit": "F",
                    "created_at": now,
                    "updated_at": now,
                }
            )
            n += 1
            first = now - timedelta(days=rng.uniform(20, 400))
            for seq in range(1, rng.choice([1, 1, 2, 3]) + 1):
                block, performed = uuid.uuid4(), first + timedelta(days=30 * (seq - 1))
                blocks.append(
                    {
                        "id": block,
                        "clinic_id": clinic,
                        "patient_id": patient,
                        "sequence_number": seq,
                        "performed_at": performed,
                        "side": rng.choice(["left", "right", "bilateral"]),
                        "levels": ["L2", "L3"],
                        "indication": "crps",
                        "baseline_pain": rng.randint(4, 9),
                        "baseline_symptoms": rng.choice([[], [], ["burning_pain"]]),
                        "anesthetic": ANESTHETIC,
                        "steroid": STEROID if rng.random() < 0.4 else None,
                        "sedation": False,
                        "created_by": admin,
                        "created_at": performed,
                    }
                )
                count = min(reports - made, rng.randint(6, 20))
                ids = {"clinic_id": clinic, "patient_id": patient, "procedure_id": block}
                rows += [report_row(rng, ids, at) for at in block_times(rng, performed, count)]
                made += count
                if made >= reports:
                    break
        add(conn, Patient, patients)
        add(conn, Procedure, blocks)
        add(conn, Report, rows)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE)"))  # as a long-lived database would be
    engine.dispose()
    print(f"seeded {len(patients):,} patients, {len(blocks):,} blocks, {made:,} reports")
    return {"clinic": clinic, "admin": admin, "session": session}


async def measure(url: str, ids: dict[str, uuid.UUID], runs: int) -> dict[str, Any]:
    settings = Settings(database_url=url, secret_key=SECRET)
    admin = Principal(ids["admin"], "admin", ids["clinic"], None, ids["session"])
    body = DryRunIn(rule_set_version=2)
    services = build_services(settings)
    seconds, cpu, result = [], [], None
    try:
        for _ in range(runs):
            started, cpu_started = time.perf_counter(), time.process_time()
            result = await dry_run(services, admin, body, limit=50, cursor=None)
            seconds.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
    finally:
        await services.db.dispose()
    app = create_app(settings)
    async with app.router.lifespan_context(app):  # lists the bench's signing key
        key = SigningKey(key_id_of(SECRET), SECRET)
        token = issue_access_token(
            admin, key=key, now=datetime.now(UTC), lifetime=timedelta(hours=1)
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=120
        ) as client:
            started = time.perf_counter()
            response = await client.post(
                "/v1/rules/dry-run?limit=50",
                json={"rule_set_version": 2},
                headers={"Authorization": f"Bearer {token}"},
            )
            http = time.perf_counter() - started
    assert response.status_code == 200, response.text[:300]
    assert result is not None
    return {"seconds": seconds, "cpu": cpu, "http": http, "result": result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM cleans up like Ctrl-C
    name = f"aftercare_bench_dr_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        at = make_url(PG_ADMIN).set(database=name)
        url, sync_url = (
            at.set(drivername=d).render_as_string(False)
            for d in ("postgresql+asyncpg", "postgresql+psycopg")
        )
        asyncio.run(upgrade(url))
        started = time.perf_counter()
        ids = seed(sync_url, args.reports)
        print(f"seeding took {time.perf_counter() - started:.1f} s (with VACUUM ANALYZE)")
        got = asyncio.run(measure(url, ids, args.runs))
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    result = got["result"]
    median, best = statistics.median(got["seconds"]), min(got["seconds"])
    print(
        f"reports judged {result.reports_judged:,} in {result.blocks:,} blocks; {result.reports_changed:,} change"
    )
    print(
        "rules: "
        + ", ".join(f"{r.rule_id} +{r.added} -{r.removed} ={r.unchanged}" for r in result.rules)
    )
    print(
        f"service call, {args.runs} runs: median {median:.2f} s, best {best:.2f} s, CPU median {statistics.median(got['cpu']):.2f} s ({result.reports_judged / median:,.0f} reports/s)"
    )
    print(f"HTTP POST /v1/rules/dry-run?limit=50 (first page): {got['http']:.2f} s")
    verdict = "within" if max(median, got["http"]) < 30 else "OVER"
    print(f"target 30 s at 100,000 reports: {verdict}")


if __name__ == "__main__":
    main()
