"""What tests share besides the world (tests/world.py): request bodies, the `Api` a test
drives the app through, and small waits on the worker. The world's names are re-exported
here, where most tests import them from."""

import os
import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from app.core.clock import FixedClock
from app.core.config import Settings
from app.core.db import Database
from app.worker.loop import Worker
from tests.world import (
    TEST_KEY,
    TEST_SECRET,
    WORLD_PASSWORD,
    Actor,
    ClinicActors,
    PatientActor,
    StaffActor,
    World,
    build_world,
    insert_clinic,
    mint,
    register_test_key,
)

__all__ = [
    "PG_ADMIN_DSN",
    "TEST_KEY",
    "TEST_SECRET",
    "WORLD_PASSWORD",
    "Actor",
    "Api",
    "ClinicActors",
    "PatientActor",
    "StaffActor",
    "World",
    "build_world",
    "drain",
    "emergency_report",
    "insert_clinic",
    "loopback_webhook_settings",
    "mint",
    "procedure_body",
    "register_test_key",
    "report_body",
]

PG_ADMIN_DSN = os.environ.get(
    "AFTERCARE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


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
