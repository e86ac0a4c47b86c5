"""Seeds the bench's database: a clinic, a clinician and N patients, each with one block
performed 50 hours ago (so a report recorded now falls in the 48-60 h check-in window) and
its check-ins; mints a patient access token per patient that outlives the run. With
`seed_timeline`, also a patient with a history (a block 15 days ago, its check-ins, reports
and an alert) and a clinician token, for the timeline GET.

Since sessions and devices (issue 9) a token is only good with the row it names: each patient
token gets a `patient_devices` row (its `sid`), the clinician's a `staff_sessions` row, and
the key the server is given (AFTERCARE_SECRET_KEY) is listed in `signing_keys` as the app's
start-up would list it. On a tree from before that (a --baseline-commit of bench/run.py) the
same code mints the old tokens: no rows, signed with the bare secret.

bench/run.py imports it. To seed another tree's schema with that tree's own models (the
--baseline-commit run), it is also a script, run with the tree's code first on the path:

    cd TREE && PYTHONPATH=TREE python /path/to/bench/seed.py URL SECRET BLOCKS [--timeline N]

which prints the [(procedure id, token), ...] pairs as JSON on one line; with --timeline N
(a history of N reports), then {"timeline": [path, clinician token]} on the next. It imports
only `app`, so whichever `app` comes first on the path is the one seeded.
"""

import argparse
import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import app.models  # noqa: F401  (every model, so the mapper can resolve foreign keys)
from app.alerts.models import Alert
from app.checkins.service import schedule_checkins
from app.core.db import Database
from app.core.security import Principal, issue_access_token
from app.patients.models import Patient
from app.procedures.models import Procedure
from app.reports.models import Report
from app.staff.models import Clinic, StaffUser

try:  # sessions, devices and signing keys (issue 9); absent from trees before it
    from app.core.keyring import SigningKeyRecord
    from app.core.security import SigningKey, key_id_of
    from app.credentials.models import PatientDevice, StaffSession

    SESSIONS = True
except ImportError:
    SESSIONS = False

LIFETIME = timedelta(days=1)  # outlives any run
ANESTHETIC = {"drug": "bupivacaine", "concentration_percent": 0.25, "volume_ml": 10}


class Minter:
    """Mints tokens in a write transaction, adding the rows each token needs (if any)."""

    def __init__(self, secret: str, now: datetime) -> None:
        self.secret = secret
        self.now = now
        self.key: Any = SigningKey(key_id_of(secret), secret) if SESSIONS else secret

    async def register_key(self, session: Any) -> None:
        """What the app's start-up does for AFTERCARE_SECRET_KEY (app/core/keyring.py)."""
        if SESSIONS and await session.get(SigningKeyRecord, self.key.kid) is None:
            session.add(
                SigningKeyRecord(
                    kid=self.key.kid, secret=None, source="environment", created_at=self.now
                )
            )

    def token(
        self,
        session: Any,
        role: str,
        subject: uuid.UUID,
        clinic: uuid.UUID,
        patient: uuid.UUID | None = None,
    ) -> str:
        """The rows' parents must be flushed already; the caller flushes these."""
        if not SESSIONS:
            principal = Principal(subject, role, clinic, patient)  # type: ignore[arg-type]
        else:
            sid = uuid.uuid4()
            if role == "patient":
                assert patient is not None
                session.add(
                    PatientDevice(id=sid, patient_id=patient, clinic_id=clinic, created_at=self.now)
                )
            else:
                session.add(
                    StaffSession(
                        id=sid,
                        user_id=subject,
                        clinic_id=clinic,
                        created_at=self.now,
                        expires_at=self.now + LIFETIME,
                    )
                )
            principal = Principal(subject, role, clinic, patient, sid)  # type: ignore[arg-type]
        return issue_access_token(principal, key=self.key, now=self.now, lifetime=LIFETIME)


def _clinic(now: datetime, name: str) -> tuple[Clinic, StaffUser]:
    clinic = Clinic(id=uuid.uuid4(), name=name, created_at=now)
    staff = StaffUser(
        id=uuid.uuid4(),
        clinic_id=clinic.id,
        email=f"bench-{uuid.uuid4().hex[:8]}@clinic.test",
        name="Bench clinician",
        role="clinician",
        password_hash="!",  # never signs in
        created_at=now,
    )
    return clinic, staff


def _patient(clinic: Clinic, now: datetime, mrn: str, name: str) -> Patient:
    return Patient(
        id=uuid.uuid4(),
        clinic_id=clinic.id,
        mrn=mrn,
        display_name=name,
        timezone="America/Chicago",
        temperature_unit="F",
        created_at=now,
        updated_at=now,
    )


def _procedure(
    patient: Patient, staff: StaffUser, performed_at: datetime, now: datetime
) -> Procedure:
    return Procedure(
        id=uuid.uuid4(),
        clinic_id=patient.clinic_id,
        patient_id=patient.id,
        sequence_number=1,
        performed_at=performed_at,
        side="left",
        levels=["L2", "L3"],
        indication="crps",
        baseline_pain=7,
        baseline_symptoms=[],
        anesthetic=ANESTHETIC,
        steroid=None,
        sedation=False,
        notes=None,
        created_by=staff.id,
        created_at=now,
    )


async def seed(url: str, secret: str, now: datetime, blocks: int = 1) -> list[tuple[str, str]]:
    """Returns one (procedure id, patient token) pair per block."""
    performed_at = now - timedelta(hours=50)
    clinic, staff = _clinic(now, "Bench clinic")
    patients, procedures = [], []
    for i in range(blocks):
        patient = _patient(
            clinic,
            now,
            "MRN-BENCH" if blocks == 1 else f"MRN-BENCH-{i:04d}",
            "Bench patient" if blocks == 1 else f"Bench patient {i}",
        )
        patients.append(patient)
        procedures.append(_procedure(patient, staff, performed_at, now))
    minter = Minter(secret, now)
    db = Database(url, pool_size=1)
    try:
        async with db.write() as session:
            await minter.register_key(session)
            session.add(clinic)
            await session.flush()
            session.add_all([staff, *patients])
            await session.flush()
            session.add_all(procedures)
            await session.flush()
            for procedure in procedures:
                session.add_all(schedule_checkins(procedure.id, performed_at, now))
            tokens = [minter.token(session, "patient", p.id, clinic.id, p.id) for p in patients]
    finally:
        await db.dispose()
    return [(str(p.id), t) for p, t in zip(procedures, tokens, strict=True)]


async def seed_timeline(url: str, secret: str, now: datetime, reports: int = 60) -> tuple[str, str]:
    """A patient whose timeline has more than a 50-item page: a block performed 15 days ago,
    its check-ins, `reports` reports over those days (one in ten with a temperature, every
    other with relief) and an open alert; in a clinic of its own, with a clinician. Returns
    (the first page's path, the clinician's token)."""
    performed_at = now - timedelta(days=15)
    clinic, staff = _clinic(now, "Bench timeline clinic")
    patient = _patient(clinic, now, "MRN-TIMELINE", "Timeline patient")
    procedure = _procedure(patient, staff, performed_at, now)
    step = (timedelta(days=15) - timedelta(hours=2)) / max(reports, 1)
    effects: tuple[list[dict[str, str]], ...] = (
        [],
        [{"kind": "soreness", "severity": "mild"}],
        [],
        [{"kind": "leg_warmth", "severity": "moderate"}],
    )
    rows = []
    for j in range(reports):
        recorded = performed_at + timedelta(hours=1) + step * j
        fever = j % 10 == 0
        rows.append(
            Report(
                id=uuid.uuid4(),
                clinic_id=clinic.id,
                patient_id=patient.id,
                procedure_id=procedure.id,
                client_report_id=uuid.uuid4(),
                request_digest=uuid.uuid4().hex * 2,
                recorded_at=recorded,
                received_at=recorded + timedelta(seconds=2),
                pain_score=max(0, 7 - (j * 7) // reports),
                relief_percent=(j * 90) // reports if j % 2 else None,
                temperature_value=99.1 if fever else None,
                temperature_unit="F" if fever else None,
                temperature_c=37.3 if fever else None,
                side_effects=effects[j % 4],
                notes="Bench note" if j % 5 == 0 else None,
            )
        )
    alert_at = rows[len(rows) // 2].recorded_at if rows else now
    alert = Alert(
        id=uuid.uuid4(),
        clinic_id=clinic.id,
        patient_id=patient.id,
        procedure_id=procedure.id,
        report_id=rows[len(rows) // 2].id if rows else None,
        rule_id="fever",
        rule_version=1,
        severity="urgent",
        severity_rank=1,
        title="Fever after the block",
        explanation=["Temperature 38.4 °C"],
        status="open",
        created_at=alert_at,
        last_triggered_at=alert_at,
        occurrences=1,
    )
    minter = Minter(secret, now)
    db = Database(url, pool_size=1)
    try:
        async with db.write() as session:
            await minter.register_key(session)
            session.add(clinic)
            await session.flush()
            session.add_all([staff, patient])
            await session.flush()
            session.add(procedure)
            await session.flush()
            session.add_all(schedule_checkins(procedure.id, performed_at, now))
            session.add_all(rows)
            await session.flush()
            session.add(alert)
            token = minter.token(session, "clinician", staff.id, clinic.id)
    finally:
        await db.dispose()
    return f"/v1/patients/{patient.id}/timeline?limit=50", token


async def _main(url: str, secret: str, count: int, timeline: int) -> None:
    now = datetime.now(UTC)
    print(json.dumps(await seed(url, secret, now, count)))
    if timeline:
        print(json.dumps({"timeline": list(await seed_timeline(url, secret, now, timeline))}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Seeds the bench's database (bench/run.py).")
    parser.add_argument("url")
    parser.add_argument("secret")
    parser.add_argument("count", type=int, help="patients, one block each")
    parser.add_argument(
        "--timeline",
        type=int,
        default=0,
        metavar="N",
        help="also a patient with N reports and a clinician token",
    )
    args = parser.parse_args()
    asyncio.run(_main(args.url, args.secret, args.count, args.timeline))
