"""The test world: two clinics with their staff and patients written straight to the database,
and the long-lived tokens they act with (sign-in and enrolment have tests of their own)."""

import secrets
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from app.core.db import Database
from app.core.keyring import SigningKeyRecord
from app.core.security import (
    Principal,
    Role,
    SigningKey,
    hash_password,
    issue_access_token,
    key_id_of,
)
from app.credentials.models import PatientDevice, StaffSession
from app.patients.models import Patient
from app.staff.models import Clinic, StaffUser

# Made anew for each test run: no key that verifies tokens is ever written in the source.
TEST_SECRET = secrets.token_urlsafe(32)
TEST_KEY = SigningKey(key_id_of(TEST_SECRET), TEST_SECRET)
WORLD_PASSWORD = "world-password-123"
LONG = timedelta(days=3650)  # world tokens outlive any clock a test sets


@dataclass(frozen=True)
class Actor:
    id: uuid.UUID
    role: Role
    clinic_id: uuid.UUID
    token: str
    email: str | None = None
    patient_id: uuid.UUID | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class StaffActor(Actor):
    """A staff member, who signs in with an e-mail (a patient has none)."""

    email: str = ""


@dataclass(frozen=True)
class PatientActor(Actor):
    """A patient's app, which always knows whose it is."""

    patient_id: uuid.UUID = field(kw_only=True)


@dataclass(frozen=True)
class ClinicActors:
    clinic_id: uuid.UUID
    admin: StaffActor
    clinician: StaffActor
    patient: PatientActor
    other_patient: PatientActor


@dataclass(frozen=True)
class World:
    a: ClinicActors
    b: ClinicActors
    password_hash: str


async def register_test_key(db: Database, now: datetime) -> None:
    """What the app's start-up does for AFTERCARE_SECRET_KEY (core/keyring.py), for tests
    that mint tokens before any app has started on their database."""
    async with db.write() as session:
        if await session.get(SigningKeyRecord, TEST_KEY.kid) is None:
            session.add(
                SigningKeyRecord(
                    kid=TEST_KEY.kid, secret=None, source="environment", created_at=now
                )
            )


async def mint(
    db: Database,
    role: Role,
    subject: uuid.UUID,
    clinic: uuid.UUID,
    now: datetime,
    patient: uuid.UUID | None = None,
) -> str:
    """A long-lived token backed by a real staff session or patient device, as a sign-in or
    an enrolment would make (those flows have tests of their own)."""
    await register_test_key(db, now)
    session_id = uuid.uuid4()
    async with db.write() as session:
        if role == "patient":
            assert patient is not None
            row: object = PatientDevice(
                id=session_id, patient_id=patient, clinic_id=clinic, created_at=now
            )
        else:
            row = StaffSession(
                id=session_id,
                user_id=subject,
                clinic_id=clinic,
                created_at=now,
                expires_at=now + LONG,
            )
        session.add(row)
    return issue_access_token(
        Principal(subject, role, clinic, patient, session_id), key=TEST_KEY, now=now, lifetime=LONG
    )


async def insert_clinic(
    db: Database,
    now: datetime,
    password_hash: str,
    label: str = "",
    rule_set_version: int | None = None,
) -> ClinicActors:
    """A clinic on the rule set a new clinic gets (the latest) unless told otherwise."""
    clinic = Clinic(id=uuid.uuid4(), name=f"Clinic {label or uuid.uuid4().hex[:6]}", created_at=now)
    if rule_set_version is not None:
        clinic.rule_set_version = rule_set_version
    staff: dict[str, StaffActor] = {}
    patients: dict[str, PatientActor] = {}
    async with db.write() as session:
        session.add(clinic)
        await session.flush()
        for role in ("admin", "clinician"):
            email = f"{role}-{uuid.uuid4().hex[:10]}@clinic.example"
            user = StaffUser(
                id=uuid.uuid4(),
                clinic_id=clinic.id,
                email=email,
                name=f"{role} {label}",
                role=role,
                password_hash=password_hash,
                created_at=now,
            )
            session.add(user)
            staff[role] = StaffActor(user.id, role, clinic.id, "", email=email)
        for key in ("patient", "other_patient"):
            patient = Patient(
                id=uuid.uuid4(),
                clinic_id=clinic.id,
                mrn=f"MRN-{uuid.uuid4().hex[:8]}",
                display_name=f"Patient {key}",
                timezone="America/Chicago",
                temperature_unit="F",
                created_at=now,
                updated_at=now,
            )
            session.add(patient)
            patients[key] = PatientActor(
                patient.id, "patient", clinic.id, "", patient_id=patient.id
            )
    for key, member in staff.items():
        token = await mint(db, member.role, member.id, clinic.id, now)
        staff[key] = replace(member, token=token)
    for key, actor in patients.items():
        token = await mint(db, actor.role, actor.id, clinic.id, now, actor.patient_id)
        patients[key] = replace(actor, token=token)
    return ClinicActors(
        clinic.id,
        staff["admin"],
        staff["clinician"],
        patients["patient"],
        patients["other_patient"],
    )


async def build_world(url: str, now: datetime) -> World:
    db = Database(url, pool_size=1)
    try:
        password_hash = await hash_password(WORLD_PASSWORD)
        a = await insert_clinic(db, now, password_hash, "A")
        b = await insert_clinic(db, now, password_hash, "B")
    finally:
        await db.dispose()
    return World(a, b, password_hash)
