"""Seeds the bench's database: a clinic, a clinician and N patients, each with one block
performed 50 hours ago (so a report recorded now falls in the 48-60 h check-in window) and
its check-ins; mints a patient access token per patient that outlives the run.

bench/run.py imports it. To seed another tree's schema with that tree's own models (the
--baseline-commit run), it is also a script, run with the tree's code first on the path:

    cd TREE && PYTHONPATH=TREE python /path/to/bench/seed.py URL SECRET BLOCKS

which prints the [(procedure id, token), ...] pairs as JSON. It imports only `app`, so
whichever `app` comes first on the path is the one seeded.
"""

import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta

import app.models  # noqa: F401  (every model, so the mapper can resolve foreign keys)
from app.checkins.service import schedule_checkins
from app.core.db import Database
from app.core.security import Principal, issue_access_token
from app.patients.models import Patient
from app.procedures.models import Procedure
from app.staff.models import Clinic, StaffUser


async def seed(url: str, secret: str, now: datetime, blocks: int = 1) -> list[tuple[str, str]]:
    """Returns one (procedure id, patient token) pair per block."""
    performed_at = now - timedelta(hours=50)
    clinic = Clinic(id=uuid.uuid4(), name="Bench clinic", created_at=now)
    staff = StaffUser(
        id=uuid.uuid4(),
        clinic_id=clinic.id,
        email=f"bench-{uuid.uuid4().hex[:8]}@clinic.test",
        name="Bench clinician",
        role="clinician",
        password_hash="!",  # never signs in
        created_at=now,
    )
    patients, procedures = [], []
    for i in range(blocks):
        patient = Patient(
            id=uuid.uuid4(),
            clinic_id=clinic.id,
            mrn="MRN-BENCH" if blocks == 1 else f"MRN-BENCH-{i:04d}",
            display_name="Bench patient" if blocks == 1 else f"Bench patient {i}",
            timezone="America/Chicago",
            temperature_unit="F",
            created_at=now,
            updated_at=now,
        )
        procedure = Procedure(
            id=uuid.uuid4(),
            clinic_id=clinic.id,
            patient_id=patient.id,
            sequence_number=1,
            performed_at=performed_at,
            side="left",
            levels=["L2", "L3"],
            indication="crps",
            baseline_pain=7,
            baseline_symptoms=[],
            anesthetic={"drug": "bupivacaine", "concentration_percent": 0.25, "volume_ml": 10},
            steroid=None,
            sedation=False,
            notes=None,
            created_by=staff.id,
            created_at=now,
        )
        patients.append(patient)
        procedures.append(procedure)
    db = Database(url, pool_size=1)
    try:
        async with db.write() as session:
            session.add(clinic)
            await session.flush()
            session.add_all([staff, *patients])
            await session.flush()
            session.add_all(procedures)
            await session.flush()
            for procedure in procedures:
                session.add_all(schedule_checkins(procedure.id, performed_at, now))
    finally:
        await db.dispose()
    pairs = []
    for patient, procedure in zip(patients, procedures, strict=True):
        principal = Principal(patient.id, "patient", clinic.id, patient.id)
        token = issue_access_token(principal, key=secret, now=now, lifetime=timedelta(days=1))
        pairs.append((str(procedure.id), token))
    return pairs


if __name__ == "__main__":
    url, secret, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps(asyncio.run(seed(url, secret, datetime.now(UTC), count))))
