"""Seeds a realistic clinic for bench/read.py, quickly, with bulk Core inserts into the app's
own tables (the database must be migrated already).

One clinic on the latest rule set, a clinician who signs in for real (the password is given;
the hash is the app's), an admin and two more clinicians; --patients patients with one to three
blocks each over the last eight months, every block with its check-ins (completed by a report
in the window, missed, or still pending) and its reports: at the check-in times and in between,
6 to 20 for most blocks, 100 to 300 for one block in thirty (patients who keep a diary). Pain
follows the block's relief; side effects are mostly the expected ones, with a few that raise
alerts. Alerts across the clinic: open and acknowledged ones on recent blocks (more than a
worklist page), resolved ones on older blocks, and some open for weeks (escalated).

A featured patient, for the per-patient reads: three blocks with 120, 200 and 300 reports, the
300-report one performed 16 days ago (all its reports in the past), with an open, an
acknowledged and a resolved alert.

bench/read.py imports it. For --baseline-commit it is also a script, run in the other tree with
that tree's code first on the path, so that the rows go into that tree's schema (columns the
tree does not have are left out):

    cd TREE && PYTHONPATH=TREE python /path/to/bench/read_seed.py SYNC_URL PASSWORD [--patients N]

which prints what `seed_clinic` returns as one line of JSON. It imports only `app`.
"""

import argparse
import asyncio
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, create_engine, event, insert, text

import app.models  # noqa: F401  (every model, so the tables' foreign keys resolve)
from app.alerts.models import Alert
from app.checkins.models import Checkin
from app.checkins.service import schedule_checkins
from app.core.security import hash_password
from app.patients.models import Patient
from app.procedures.models import Procedure
from app.reports.models import Report
from app.staff.models import Clinic, StaffUser

CHUNK = 5000
FEATURED_REPORTS = (120, 200, 300)  # the featured patient's blocks, oldest first
DIARY_SHARE = 1 / 30  # blocks whose patient reports many times a day
WINDOW_HOURS = 340  # reports after a block: within its 14-day follow-up
# Side-effect mixes, weighted: mostly the block's expected effects, a few red flags.
MIXES: list[tuple[int, list[tuple[str, str]]]] = [
    (34, []),
    (18, [("soreness", "mild")]),
    (10, [("leg_warmth", "mild"), ("numbness", "mild")]),
    (6, [("soreness", "moderate"), ("bruising", "mild")]),
    (6, [("leg_weakness", "mild")]),
    (5, [("dizziness", "mild")]),
    (4, [("headache", "mild"), ("nausea", "mild")]),
    (3, [("tingling", "mild")]),
    (2, [("dizziness", "moderate")]),
    (2, [("site_redness", "mild")]),
    (2, [("burning_pain", "moderate")]),
    (1, [("swelling", "moderate"), ("bruising", "mild")]),
    (1, [("nausea", "severe")]),
    (1, [("bleeding", "mild")]),
]
NOTES = ("Slept better last night.", "Walked to the shops.", "Leg feels warm.", "Took ibuprofen.")
# (rule, severity, title, weight): what alerts the clinic's blocks carry.
RULES: list[tuple[str, str, str, int]] = [
    ("missed_checkin", "routine", "Missed check-in", 20),
    ("pain_flare", "routine", "Pain flare", 12),
    ("no_relief", "routine", "No relief from the block", 8),
    ("prolonged_site_symptoms", "routine", "Prolonged injection-site symptoms", 4),
    ("pain_escalation", "urgent", "Pain escalation", 10),
    ("persistent_dizziness", "urgent", "Dizziness beyond what the block explains", 8),
    ("fever", "urgent", "Fever", 6),
    ("persistent_numbness_or_weakness", "urgent", "Numbness or weakness lasting too long", 6),
    ("site_infection", "urgent", "Possible injection-site infection", 4),
    ("new_burning_pain", "urgent", "New burning pain", 4),
    ("severe_nausea", "urgent", "Severe nausea", 3),
    ("possible_internal_bleeding", "emergency", "Possible internal bleeding", 2),
    ("worsening_weakness", "emergency", "Worsening or returning leg weakness", 2),
]
RANK = {"emergency": 0, "urgent": 1, "routine": 2}
ESCALATE_MINUTES = {"emergency": 15, "urgent": 120}
ANESTHETIC = {"drug": "bupivacaine", "concentration_percent": 0.25, "volume_ml": 10}
STEROID = {"drug": "dexamethasone", "dose_mg": 4}
INDICATIONS = ["crps"] * 6 + ["neuropathy", "vascular", "phantom_limb", "post_surgical"]


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


def _add(conn: Any, model: Any, rows: list[dict[str, Any]]) -> None:
    """Core executemany, CHUNK rows at a time, of the columns this tree's table has."""
    table = _table(model)
    columns = set(table.c.keys())
    rows = [{k: v for k, v in row.items() if k in columns} for row in rows]
    for i in range(0, len(rows), CHUNK):
        conn.execute(insert(table), rows[i : i + CHUNK])


class ClinicRows:
    """The rows of one clinic, built in memory, in insertion order."""

    def __init__(self, rng: random.Random, now: datetime, password_hash: str) -> None:
        self.rng = rng
        self.now = now
        self.clinic = uuid.uuid4()
        self.email = f"read-bench-{self.clinic.hex[:8]}@clinic.test"
        self.staff: list[dict[str, Any]] = []
        for i, (role, name) in enumerate(
            [("clinician", "Read bench clinician"), ("admin", "Clinic admin")]
            + [("clinician", f"Clinician {n}") for n in (2, 3)]
        ):
            self.staff.append(
                {
                    "id": uuid.uuid4(),
                    "clinic_id": self.clinic,
                    "role": role,
                    "name": name,
                    "email": self.email
                    if i == 0
                    else f"staff{i}-{self.clinic.hex[:8]}@clinic.test",
                    "password_hash": password_hash if i == 0 else "!",
                    "created_at": now - timedelta(days=400),
                    "active": True,
                }
            )
        self.patients: list[dict[str, Any]] = []
        self.blocks: list[dict[str, Any]] = []
        self.reports: list[dict[str, Any]] = []
        self.checkins: list[dict[str, Any]] = []
        self.alerts: list[dict[str, Any]] = []

    def patient(self, n: int, name: str) -> uuid.UUID:
        pid = uuid.uuid4()
        created = self.now - timedelta(days=260 - n % 20)
        self.patients.append(
            {
                "id": pid,
                "clinic_id": self.clinic,
                "mrn": f"MRN-RD-{n:05d}",
                "display_name": name,
                "timezone": self.rng.choice(
                    ["America/Chicago", "America/New_York", "America/Denver"]
                ),
                "temperature_unit": "F",
                "created_at": created,
                "updated_at": created,
            }
        )
        return pid

    def block(
        self, patient: uuid.UUID, sequence: int, performed: datetime, reports: int
    ) -> uuid.UUID:
        """A block with its reports, check-ins and alerts; returns its id."""
        rng = self.rng
        bid = uuid.uuid4()
        baseline = rng.randint(4, 9)
        steroid = rng.random() < 0.35
        self.blocks.append(
            {
                "id": bid,
                "clinic_id": self.clinic,
                "patient_id": patient,
                "sequence_number": sequence,
                "performed_at": performed,
                "side": rng.choice(["left", "left", "right", "right", "bilateral"]),
                "levels": rng.choice([["L2", "L3"], ["L2", "L3", "L4"], ["L3"]]),
                "indication": rng.choice(INDICATIONS),
                "baseline_pain": baseline,
                "baseline_symptoms": rng.choice([[], [], ["burning_pain"], ["leg_warmth"]]),
                "anesthetic": ANESTHETIC,
                "steroid": STEROID if steroid else None,
                "sedation": rng.random() < 0.3,
                "notes": rng.choice([None, None, "Good spread on imaging."]),
                "created_by": self.staff[1 + sequence % 3]["id"],
                "created_at": performed + timedelta(minutes=20),
                "no_relief_checked_at": performed + timedelta(days=14)
                if performed + timedelta(days=14) < self.now
                else None,
            }
        )
        # Relief: most blocks help for a while, some not at all.
        relief = rng.choice([0, 20, 40, 50, 60, 70, 80, 90]) if rng.random() < 0.8 else 0
        lasted = rng.uniform(6, 300)  # hours
        horizon = min(WINDOW_HOURS, (self.now - performed).total_seconds() / 3600 - 0.1)
        windows = schedule_checkins(bid, performed, self.now)
        hours = [
            (w.due_at - performed).total_seconds() / 3600 + rng.uniform(0.1, 1.5)
            for w in windows
            if rng.random() < 0.8
        ]
        hours += [rng.uniform(0.5, WINDOW_HOURS) for _ in range(max(0, reports - len(hours)))]
        hours = sorted(h for h in hours[:reports] if h < horizon)
        rows = []
        for h in hours:
            at = performed + timedelta(hours=h)
            rid = uuid.uuid4()
            relieved = relief if h < lasted else 0
            pain = max(0, min(10, round(baseline * (1 - relieved / 100)) + rng.randint(-1, 1)))
            effects = rng.choices([m for _, m in MIXES], [w for w, _ in MIXES])[0]
            fever = rng.random() < 0.02
            glucose = rng.choice([None, None, None, 110, 145, 180]) if steroid else None
            rows.append(
                {
                    "id": rid,
                    "clinic_id": self.clinic,
                    "patient_id": patient,
                    "procedure_id": bid,
                    "client_report_id": uuid.uuid4(),
                    "request_digest": rid.hex * 2,
                    "recorded_at": at,
                    "received_at": at + timedelta(seconds=rng.randint(1, 90)),
                    "pain_score": pain,
                    "relief_percent": relieved if relief and rng.random() < 0.7 else None,
                    "relief_ended_at": performed + timedelta(hours=lasted)
                    if relief and h >= lasted
                    else None,
                    "temperature_value": (101.2 if fever else round(rng.uniform(97.6, 99.2), 1))
                    if rng.random() < 0.4 or fever
                    else None,
                    "temperature_unit": "F",
                    "temperature_c": None,
                    "blood_glucose_value": glucose,
                    "blood_glucose_unit": "mg/dL" if glucose else None,
                    "blood_glucose_mmol": round(glucose / 18.016, 3) if glucose else None,
                    "side_effects": [{"kind": k, "severity": s} for k, s in effects],
                    "notes": rng.choice(NOTES) if rng.random() < 0.15 else None,
                    "rule_set_version": 2,
                    "entered_by_staff_id": None,
                }
            )
            row = rows[-1]
            if row["temperature_value"] is None:
                row["temperature_unit"] = None
            else:
                row["temperature_c"] = round((row["temperature_value"] - 32) * 5 / 9, 3)
        self.reports += rows
        for window in windows:
            inside = next(
                (r for r in rows if window.due_at <= r["recorded_at"] < window.closes_at), None
            )
            if inside is not None:
                status, report, done = "completed", inside["id"], inside["received_at"]
            else:
                status = "missed" if window.closes_at <= self.now else "pending"
                report, done = None, None
            self.checkins.append(
                {
                    "id": window.id,
                    "procedure_id": bid,
                    "due_at": window.due_at,
                    "closes_at": window.closes_at,
                    "status": status,
                    "report_id": report,
                    "completed_at": done,
                }
            )
        self._alerts(patient, bid, performed, rows)
        return bid

    def _alerts(
        self, patient: uuid.UUID, block: uuid.UUID, performed: datetime, rows: list[dict[str, Any]]
    ) -> None:
        rng = self.rng
        age = (self.now - performed).days
        count = rng.choice([0, 0, 1, 1, 1, 2, 3]) if age < 30 else rng.choice([0, 0, 0, 1, 1, 2])
        chosen: set[str] = set()
        for _ in range(count):
            rule, severity, title, _weight = rng.choices(RULES, [r[3] for r in RULES])[0]
            if rule in chosen or not rows:
                continue
            chosen.add(rule)
            if age < 30:
                status = rng.choices(["open", "acknowledged", "resolved"], [5, 3, 2])[0]
            else:
                status = rng.choices(["open", "acknowledged", "resolved"], [1, 1, 8])[0]
            self.alert(patient, block, rows, rule, severity, title, status)

    def alert(
        self,
        patient: uuid.UUID,
        block: uuid.UUID,
        rows: list[dict[str, Any]],
        rule: str,
        severity: str,
        title: str,
        status: str,
    ) -> None:
        rng = self.rng
        report = rng.choice(rows)
        created = report["received_at"] + timedelta(seconds=1)
        occurrences = rng.choice([1, 1, 1, 2, 3])
        last = min(self.now, created + timedelta(hours=6 * (occurrences - 1)))
        worked = min(self.now, created + timedelta(minutes=rng.randint(5, 600)))
        by = self.staff[rng.randrange(len(self.staff))]["id"]
        deadline = (
            created + timedelta(minutes=ESCALATE_MINUTES[severity])
            if severity in ESCALATE_MINUTES
            else None
        )
        escalated = status == "open" and deadline is not None and deadline <= self.now
        self.alerts.append(
            {
                "id": uuid.uuid4(),
                "clinic_id": self.clinic,
                "patient_id": patient,
                "procedure_id": block,
                "report_id": None if rule in ("missed_checkin", "no_relief") else report["id"],
                "rule_id": rule,
                "rule_version": 1,
                "rule_set_version": 2,
                "severity": severity,
                "severity_rank": RANK[severity],
                "title": title,
                "explanation": [
                    f"Reported {report['pain_score']}/10 pain",
                    "Reported at a check-in",
                ][: rng.randint(1, 2)],
                "status": status,
                "created_at": created,
                "last_triggered_at": last,
                "occurrences": occurrences,
                "acknowledged_at": worked if status != "open" else None,
                "acknowledged_by": by if status != "open" else None,
                "acknowledgement_note": "Called the patient." if status != "open" else None,
                "resolved_at": worked if status == "resolved" else None,
                "resolved_by": by if status == "resolved" else None,
                "resolution_note": "Settled; no action needed." if status == "resolved" else None,
                "escalate_at": deadline if status == "open" and not escalated else None,
                "escalated_at": deadline if escalated else None,
            }
        )


def build(
    rng: random.Random, now: datetime, password_hash: str, patients: int
) -> tuple[ClinicRows, uuid.UUID, list[uuid.UUID]]:
    """The whole clinic in memory; returns it and the featured patient's ids."""
    clinic = ClinicRows(rng, now, password_hash)
    featured = clinic.patient(0, "Featured patient")
    blocks = []
    for sequence, (days, count) in enumerate(zip((80, 45, 16), FEATURED_REPORTS, strict=True), 1):
        blocks.append(clinic.block(featured, sequence, now - timedelta(days=days), count))
    chart_rows = [r for r in clinic.reports if r["procedure_id"] == blocks[-1]]
    for rule, severity, title, status in (
        ("pain_escalation", "urgent", "Pain escalation", "open"),
        ("pain_flare", "routine", "Pain flare", "acknowledged"),
        ("persistent_dizziness", "urgent", "Dizziness beyond what the block explains", "resolved"),
    ):
        if not any(a["procedure_id"] == blocks[-1] and a["rule_id"] == rule for a in clinic.alerts):
            clinic.alert(featured, blocks[-1], chart_rows, rule, severity, title, status)
    for n in range(1, patients):
        pid = clinic.patient(n, f"Patient {n}")
        performed = now - timedelta(days=rng.uniform(2, 240), hours=rng.uniform(0, 8))
        for sequence in range(1, rng.choice([1, 1, 1, 2, 2, 3]) + 1):
            if performed > now - timedelta(hours=2):
                break
            count = rng.randint(100, 300) if rng.random() < DIARY_SHARE else rng.randint(6, 20)
            clinic.block(pid, sequence, performed, count)
            performed += timedelta(days=rng.uniform(28, 45))
    return clinic, featured, blocks


def seed_clinic(sync_url: str, password: str, patients: int = 300) -> dict[str, Any]:
    """Seeds the migrated database at `sync_url` (a sync driver: psycopg or pysqlite);
    returns the clinician's email, the featured patient and blocks, and what was made."""
    rng = random.Random(11)
    now = datetime.now(UTC).replace(microsecond=0)
    password_hash = asyncio.run(hash_password(password))
    clinic, featured, blocks = build(rng, now, password_hash, patients)
    engine = create_engine(sync_url)
    if sync_url.startswith("sqlite"):  # a throwaway file: no fsync while seeding

        @event.listens_for(engine, "connect")
        def _fast(dbapi_connection: Any, _: Any) -> None:
            dbapi_connection.execute("PRAGMA synchronous=OFF")

    try:
        with engine.begin() as conn:
            _add(
                conn,
                Clinic,
                [
                    {
                        "id": clinic.clinic,
                        "name": "Read bench clinic",
                        "created_at": now - timedelta(days=400),
                        "escalate_emergency_minutes": 15,
                        "escalate_urgent_minutes": 120,
                    }
                ],
            )
            _add(conn, StaffUser, clinic.staff)
            _add(conn, Patient, clinic.patients)
            _add(conn, Procedure, clinic.blocks)
            _add(conn, Report, clinic.reports)
            _add(conn, Checkin, clinic.checkins)
            _add(conn, Alert, clinic.alerts)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            # As a long-lived database would be; and autovacuum must not start mid-measurement.
            conn.execute(text("ANALYZE" if sync_url.startswith("sqlite") else "VACUUM (ANALYZE)"))
    finally:
        engine.dispose()
    active = sum(a["status"] in ("open", "acknowledged") for a in clinic.alerts)
    per_block: dict[uuid.UUID, int] = {}
    for r in clinic.reports:
        per_block[r["procedure_id"]] = per_block.get(r["procedure_id"], 0) + 1
    return {
        "email": clinic.email,
        "patient": str(featured),
        "blocks": [str(b) for b in blocks],  # oldest first; the last has 300 reports
        "counts": {
            "patients": len(clinic.patients),
            "blocks": len(clinic.blocks),
            "reports": len(clinic.reports),
            "checkins": len(clinic.checkins),
            "alerts": len(clinic.alerts),
            "active_alerts": active,
            "blocks_with_100_reports_or_more": sum(n >= 100 for n in per_block.values()),
            "largest_block_reports": max(per_block.values()),
        },
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Seeds bench/read.py's clinic.")
    parser.add_argument("url", help="a sync SQLAlchemy URL of a migrated database")
    parser.add_argument("password", help="the bench clinician's password")
    parser.add_argument("--patients", type=int, default=300)
    args = parser.parse_args()
    print(json.dumps(seed_clinic(args.url, args.password, args.patients)))
