import os
import secrets
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from app.core.clock import FixedClock
from app.core.config import Settings
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
from app.worker.loop import Worker

PG_ADMIN_DSN = os.environ.get(
    "AFTERCARE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
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


def procedure_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "performed_at": "2026-11-21T05:30:00-06:00",  # 11:30Z, half an hour before START
        "side": "left",
        "levels": ["L2", "L3"],
        "indication": "crps",
        "baseline_pain": 7,
        "baseline_symptoms": [],
        "anesthetic": {"drug": "bupivacaine", "concentration_percent": 0.25, "volume_ml": 10},
        "steroid": {"drug": "dexamethasone", "dose_mg": 4},
        "sedation": False,
        "notes": "Uneventful.",
    }
    body.update(overrides)
    return body


def report_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "client_report_id": str(uuid.uuid4()),
        "recorded_at": "2026-11-21T11:45:00Z",
        "pain_score": 4,
        "relief_percent": 40,
        "relief_ended_at": None,
        "temperature": {"value": 98.6, "unit": "F"},
        "side_effects": [{"kind": "soreness", "severity": "mild"}],
        "notes": None,
    }
    body.update(overrides)
    return body


class Api:
    def __init__(
        self, client: httpx.AsyncClient, app: FastAPI, world: World, clock: FixedClock
    ) -> None:
        self.client = client
        self.app = app
        self.world = world
        self.clock = clock

    @property
    def db(self) -> Database:
        db: Database = self.app.state.services.db
        return db

    async def new_clinic(self, rule_set_version: int | None = None) -> ClinicActors:
        return await insert_clinic(
            self.db, self.clock.now(), self.world.password_hash, rule_set_version=rule_set_version
        )

    async def create_patient(self, actor: Actor, **overrides: Any) -> dict[str, Any]:
        body = {
            "mrn": f"MRN-{uuid.uuid4().hex[:10]}",
            "display_name": "Alex Doe",
            "timezone": "Europe/Berlin",
            "temperature_unit": "C",
            **overrides,
        }
        response = await self.client.post("/v1/patients", json=body, headers=actor.headers)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def create_procedure(
        self, actor: Actor, patient_id: uuid.UUID | str, **overrides: Any
    ) -> dict[str, Any]:
        response = await self.client.post(
            f"/v1/patients/{patient_id}/procedures",
            json=procedure_body(**overrides),
            headers=actor.headers,
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def post_report(
        self, actor: Actor, procedure_id: uuid.UUID | str, body: dict[str, Any]
    ) -> httpx.Response:
        return await self.client.post(
            f"/v1/procedures/{procedure_id}/reports", json=body, headers=actor.headers
        )

    async def patient_with_procedure(
        self, clinic: ClinicActors
    ) -> tuple[PatientActor, dict[str, Any]]:
        """A fresh patient of the clinic with one block, and a long-lived patient token (the
        real enrollment flow has tests of its own; see `enroll`)."""
        patient = await self.create_patient(clinic.clinician)
        procedure = await self.create_procedure(clinic.clinician, patient["id"])
        return await self.patient_actor(patient), procedure

    async def patient_actor(self, patient: dict[str, Any]) -> PatientActor:
        """The patient's own app token, backed by a device as /v1/auth/enroll would make."""
        patient_id = uuid.UUID(patient["id"])
        clinic_id = uuid.UUID(patient["clinic_id"])
        token = await mint(self.db, "patient", patient_id, clinic_id, self.clock.now(), patient_id)
        return PatientActor(patient_id, "patient", clinic_id, token, patient_id=patient_id)

    async def enroll(self, staff: Actor, patient_id: str) -> PatientActor:
        code = await self.client.post(
            f"/v1/patients/{patient_id}/enrollment-codes", headers=staff.headers
        )
        assert code.status_code == 201, code.text
        tokens = await self.client.post("/v1/auth/enroll", json={"code": code.json()["code"]})
        assert tokens.status_code == 200, tokens.text
        return PatientActor(
            uuid.UUID(patient_id),
            "patient",
            staff.clinic_id,
            tokens.json()["access_token"],
            patient_id=uuid.UUID(patient_id),
        )


def loopback_webhook_settings(database_url: str) -> Settings:
    """For tests whose receivers listen on loopback, which only this setting allows."""
    return Settings(
        database_url=database_url,
        secret_key=TEST_SECRET,
        db_pool_size=5,
        allow_private_webhooks=True,
        webhook_timeout_seconds=2,
    )


async def emergency_report(api: Api, clinic: ClinicActors) -> dict[str, Any]:
    """A report that raises an emergency alert, on a new patient's block of `clinic`."""
    patient, procedure = await api.patient_with_procedure(clinic)
    body = report_body(side_effects=[{"kind": "breathing_difficulty", "severity": "mild"}])
    response = await api.post_report(patient, procedure["id"], body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def drain(worker: Worker, passes: int = 200) -> None:
    """`run_until_idle`, bounded: a timer that fires on every pass fails the test, not hangs it."""
    for _ in range(passes):
        if not await worker.run_once():
            await worker.settle()
            return
        await worker.settle()
    raise AssertionError(f"the worker still found work after {passes} passes")
