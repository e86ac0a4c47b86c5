"""FHIR bulk export throughput and memory on PostgreSQL (issue 14).

    .venv/bin/python bench/fhir_export.py [--reports 100000] [--admin-dsn postgresql://...]

Makes a scratch database, migrates it, seeds one clinic with bulk Core inserts (patients with
one block each, --reports reports spread over them with temperatures and side effects, an
alert per 20 reports), queues a whole-clinic export and runs the worker's export passes in a
fresh subprocess until the job is done. That process reports resources written per second
and its RSS growth (VmHWM, the peak, less VmRSS before the first pass): the seed's own memory
is not in it. Targets: at least 5,000 resources/s, under 100 MB growth. Drops the database.
"""

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import create_engine, insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import app.models  # (every table, so foreign keys resolve)
from app.core.config import Settings
from app.core.migrations import upgrade

REPORTS_PER_BLOCK = 50
CHUNK = 5000
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
EFFECTS = [[], [], [("soreness", "mild")], [("leg_warmth", "mild"), ("numbness", "mild")]]


def _memory(field: str) -> int:
    """A /proc/self/status figure (VmRSS, VmHWM) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(field)


def seed(url: str, reports: int) -> tuple[uuid.UUID, uuid.UUID]:
    rng = random.Random(14)
    engine = create_engine(url)
    clinic, staff = uuid.uuid4(), uuid.uuid4()
    tables = app.models.Base.metadata.tables
    patients, blocks, rows, alerts = [], [], [], []
    for n in range(max(1, reports // REPORTS_PER_BLOCK)):
        pid, bid = uuid.uuid4(), uuid.uuid4()
        created = NOW - timedelta(days=30)
        patients.append(
            {
                "id": pid,
                "clinic_id": clinic,
                "mrn": f"MRN-EX-{n:06d}",
                "display_name": f"P {n}",
                "timezone": "America/Chicago",
                "temperature_unit": "F",
                "created_at": created,
                "updated_at": created,
            }
        )
        blocks.append(
            {
                "id": bid,
                "clinic_id": clinic,
                "patient_id": pid,
                "sequence_number": 1,
                "performed_at": created,
                "side": "left",
                "levels": ["L2", "L3"],
                "indication": "crps",
                "baseline_pain": 7,
                "baseline_symptoms": [],
                "sedation": False,
                "created_by": staff,
                "created_at": created,
                "anesthetic": {
                    "drug": "bupivacaine",
                    "concentration_percent": 0.25,
                    "volume_ml": 10,
                },
                "steroid": None,
                "notes": None,
            }
        )
        for i in range(REPORTS_PER_BLOCK):
            rid, at = uuid.uuid4(), created + timedelta(hours=i * 6)
            temperature = round(rng.uniform(97.5, 101.0), 1) if rng.random() < 0.4 else None
            rows.append(
                {
                    "id": rid,
                    "clinic_id": clinic,
                    "patient_id": pid,
                    "procedure_id": bid,
                    "client_report_id": uuid.uuid4(),
                    "request_digest": rid.hex * 2,
                    "recorded_at": at,
                    "received_at": at,
                    "pain_score": rng.randint(0, 10),
                    "relief_percent": rng.choice([None, 40, 70]),
                    "relief_ended_at": None,
                    "temperature_value": temperature,
                    "temperature_unit": "F" if temperature else None,
                    "temperature_c": round((temperature - 32) * 5 / 9, 2) if temperature else None,
                    "side_effects": [{"kind": k, "severity": s} for k, s in rng.choice(EFFECTS)],
                    "notes": None,
                    "rule_set_version": 2,
                }
            )
            if i % 20 == 0:
                alerts.append(
                    {
                        "id": uuid.uuid4(),
                        "clinic_id": clinic,
                        "patient_id": pid,
                        "procedure_id": bid,
                        "report_id": rid,
                        "rule_id": "pain_flare",
                        "rule_version": 1,
                        "rule_set_version": 2,
                        "severity": "routine",
                        "severity_rank": 2,
                        "title": "Pain flare",
                        "explanation": ["bench"],
                        "status": "open" if i == 0 else "resolved",
                        "created_at": at,
                        "last_triggered_at": at,
                        "occurrences": 1,
                        "resolved_at": None if i == 0 else at + timedelta(hours=1),
                    }
                )
    with engine.begin() as conn:
        conn.execute(
            insert(tables["clinics"]), [{"id": clinic, "name": "Export bench", "created_at": NOW}]
        )
        conn.execute(
            insert(tables["staff_users"]),
            [
                {
                    "id": staff,
                    "clinic_id": clinic,
                    "email": f"ex-{clinic.hex[:8]}@clinic.test",
                    "name": "Bench",
                    "role": "admin",
                    "password_hash": "!",
                    "created_at": NOW,
                }
            ],
        )
        for name, values in (
            ("patients", patients),
            ("procedures", blocks),
            ("reports", rows),
            ("alerts", alerts),
        ):
            for i in range(0, len(values), CHUNK):
                conn.execute(insert(tables[name]), values[i : i + CHUNK])
    engine.dispose()
    return clinic, staff


async def export(url: str, clinic: uuid.UUID, staff: uuid.UUID, export_dir: str) -> dict[str, Any]:
    """In the subprocess: queue the export and run the worker's passes until it is done."""
    from app.core.clock import FixedClock
    from app.core.security import Principal
    from app.fhir.export_service import ExportRequest, start_export, visible_job
    from app.fhir.export_types import EXPORT_TYPES
    from app.fhir.export_worker import Exporter
    from app.main import build_services

    settings = Settings(database_url=url, export_dir=export_dir)
    services = build_services(settings, FixedClock(NOW), pool_size=2)
    caller = Principal(staff, "admin", clinic)
    wanted = ExportRequest(list(EXPORT_TYPES), None, "bench")
    job = await start_export(services, caller, wanted)
    exporter = Exporter(services)
    rss_before = _memory("VmRSS")
    started = time.perf_counter()
    passes = 0
    while await exporter.run_batch():
        passes += 1
    seconds = time.perf_counter() - started
    done = await visible_job(services, caller, job.id)
    await services.db.dispose()
    counts = {name: f["count"] for name, f in done.cursor["files"].items()}
    return {
        "status": done.status,
        "seconds": round(seconds, 2),
        "passes": passes,
        "counts": counts,
        "resources_per_second": round(sum(counts.values()) / seconds),
        "rss_before_mb": round(rss_before / 2**20, 1),
        "rss_growth_mb": round((_memory("VmHWM") - rss_before) / 2**20, 1),
        "bytes": sum(f["bytes"] for f in done.cursor["files"].values()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument(
        "--admin-dsn",
        default=os.environ.get(
            "AFTERCARE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument(
        "--child", nargs=4, metavar=("URL", "CLINIC", "STAFF", "DIR"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        url, clinic, staff, export_dir = args.child
        ids = uuid.UUID(clinic), uuid.UUID(staff)
        print(json.dumps(asyncio.run(export(url, *ids, export_dir))))
        return 0
    name = f"aftercare_export_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = args.admin_dsn.rsplit("/", 1)[0].split("://", 1)[1]
    try:
        asyncio.run(upgrade(f"postgresql+asyncpg://{base}/{name}"))
        started = time.perf_counter()
        clinic, staff = seed(f"postgresql+psycopg://{base}/{name}", args.reports)
        print(f"seeded {args.reports} reports in {time.perf_counter() - started:.1f} s", flush=True)
        with tempfile.TemporaryDirectory() as export_dir:
            child = [
                sys.executable,
                __file__,
                "--child",
                f"postgresql://{base}/{name}",
                str(clinic),
                str(staff),
                export_dir,
            ]
            result = json.loads(
                subprocess.run(child, check=True, stdout=subprocess.PIPE, text=True).stdout
            )
        print(json.dumps(result, indent=2))
    finally:
        with psycopg.connect(args.admin_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
