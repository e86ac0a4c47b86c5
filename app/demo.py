"""`aftercare demo`: a small clinic to click through, built with the same services the API uses.

The first patient has had a series of three blocks, replayed on a simulated clock so that every
report, check-in and alert gets the time it would have had: block 1 relieved the pain for 30 h,
block 2 for 60 h, and block 3's relief is still going on; block 3 has an urgent alert and a
missed check-in (closed by the same scheduler step the worker runs). docs/ shows its charts.

It seeds only a database without clinics, and is a no-op on one that holds just the demo clinic
(the clinic of the staff user ADMIN_EMAIL, an address in the reserved .example domain that no
real login has): a real clinic's database is refused, never given staff with known passwords.
Each run makes its own random passwords and prints them once."""

import dataclasses
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import func, inspect, select

from app.checkins.service import DEFAULT_SCHEDULE
from app.core.clock import FixedClock
from app.core.deps import Services
from app.core.domain_errors import AlreadyExists
from app.core.security import Principal
from app.patients.models import Patient
from app.patients.schemas import PatientCreate
from app.patients.service import create_enrollment_code, create_patient
from app.procedures.models import Procedure
from app.procedures.schemas import ProcedureCreate
from app.procedures.service import create_procedure
from app.reports.schemas import ReportIn
from app.reports.service import submit_report
from app.scheduled.service import close_missed_checkins
from app.staff.models import Clinic, StaffUser
from app.staff.schemas import StaffCreate
from app.staff.service import create_clinic_with_admin, create_staff

ADMIN_EMAIL = "admin@demo.aftercare.example"
CLINICIAN_EMAIL = "clinician@demo.aftercare.example"


class NotADemoDatabase(Exception):
    def __init__(self, clinics: int) -> None:
        super().__init__(f"{clinics} clinics besides the demo clinic")
        self.clinics = clinics


SERIES_PATIENT = ("DEMO-0001", "Jordan Alvarez", "America/Chicago", "F")


class _Report(NamedTuple):
    hours: float  # after the block
    pain: int
    relief: int
    ended_hours: float | None = None  # relief_ended_at, hours after the block
    side_effects: tuple[tuple[str, str], ...] = ()


_SORE = (("soreness", "mild"),)
# (days before today, baseline pain, reports): each block of the series.
_SERIES: list[tuple[float, int, list[_Report]]] = [
    (
        62,
        7,
        [
            _Report(1.5, 6, 10, side_effects=_SORE),
            _Report(5, 3, 60, side_effects=(*_SORE, ("numbness", "mild"))),
            _Report(25, 3, 55),
            _Report(49, 6, 15, ended_hours=30),
            _Report(74, 6, 15),
            _Report(170, 7, 0),
            _Report(338, 7, 0),
        ],
    ),
    (
        31,
        7,
        [
            _Report(1.2, 5, 30, side_effects=_SORE),
            _Report(4.5, 2, 75, side_effects=_SORE),
            _Report(26, 2, 80),
            _Report(50, 3, 70),
            _Report(74, 6, 20, ended_hours=60),
            _Report(170, 7, 5),
            _Report(340, 7, 0),
        ],
    ),
    (
        80 / 24,  # 80 hours ago: relief still going on
        7,
        [
            _Report(1, 6, 15, side_effects=_SORE),
            _Report(5, 3, 60, side_effects=(*_SORE, ("numbness", "mild"))),
            _Report(26, 2, 75, side_effects=(("site_redness", "moderate"),)),  # urgent alert
            # nothing in the 48-60 h window: a missed check-in and its routine alert
            _Report(74, 2, 80),
        ],
    ),
]

_PATIENTS = [
    ("DEMO-0002", "Priya Raman", "Europe/London", "C", 8, [(2, 8, 0), (24, 7, 10), (49, 8, 0)]),
    ("DEMO-0003", "Sam Okoro", "America/New_York", "F", 6, [(1, 2, 70), (30, 1, 85)]),
]


async def seed_demo(services: Services, base_url: str) -> dict[str, Any]:
    """The demo clinic, its logins, patients and links under `base_url`; raises
    NotADemoDatabase, having written nothing, when any other clinic exists."""
    await refuse_unless_demo_database(services)
    admin_password, clinician_password = _random_password(), _random_password()
    try:
        clinic, admin = await create_clinic_with_admin(
            services,
            clinic_name="Demo Pain Clinic",
            email=ADMIN_EMAIL,
            password=admin_password,
            name="Demo Admin",
        )
    except AlreadyExists:  # its passwords were printed when it was seeded
        return await _seeded_before(services, base_url)
    admin_caller = Principal(admin.id, "admin", clinic.id)
    await create_staff(
        services,
        admin_caller,
        StaffCreate(
            email=CLINICIAN_EMAIL,
            password=clinician_password,
            name="Dr Demo Clinician",
            role="clinician",
        ),
    )
    now = services.clock.now()
    series = await _seed_series(services, admin_caller, now)
    codes, patient_ids = {SERIES_PATIENT[0]: series.code}, {SERIES_PATIENT[0]: series.patient_id}
    for mrn, name, tz, unit, baseline, reports in _PATIENTS:
        patient = await create_patient(
            services,
            admin_caller,
            PatientCreate(mrn=mrn, display_name=name, timezone=tz, temperature_unit=unit),
        )
        performed_at = now - timedelta(hours=max(h for h, _, _ in reports) + 2)
        procedure = await create_procedure(
            services,
            admin_caller,
            patient.id,
            ProcedureCreate(
                performed_at=performed_at,
                side="left",
                levels=["L2", "L3"],
                indication="crps",
                baseline_pain=baseline,
                sedation=False,
            ),
        )
        patient_caller = Principal(patient.id, "patient", clinic.id, patient.id)
        for hours, pain, relief in reports:
            await submit_report(
                services,
                patient_caller,
                procedure.id,
                ReportIn(
                    client_report_id=uuid.uuid4(),
                    recorded_at=performed_at + timedelta(hours=hours),
                    pain_score=pain,
                    relief_percent=relief,
                    side_effects=[{"kind": "soreness", "severity": "mild"}] if hours < 24 else [],
                ),
            )
        codes[mrn] = (await create_enrollment_code(services, admin_caller, patient.id)).code
        patient_ids[mrn] = patient.id
    return {
        "clinic_id": str(clinic.id),
        "admin_email": ADMIN_EMAIL,
        "admin_password": admin_password,
        "clinician_email": CLINICIAN_EMAIL,
        "clinician_password": clinician_password,
        "patient_ids": {mrn: str(patient_id) for mrn, patient_id in patient_ids.items()},
        "enrollment_codes": codes,
        "links": _links(base_url.rstrip("/"), series),
    }


async def _seeded_before(services: Services, base_url: str) -> dict[str, Any]:
    """The ids and links of the demo clinic seeded by an earlier run (not its passwords:
    only their hashes are kept)."""
    async with services.db.read() as session:
        clinic_id = await session.scalar(
            select(StaffUser.clinic_id).where(StaffUser.email == ADMIN_EMAIL)
        )
        found = await session.execute(
            select(Patient.mrn, Patient.id).where(Patient.clinic_id == clinic_id)
        )
        patients = dict(found.tuples().all())
        series_id = patients.get(SERIES_PATIENT[0])
        last_block = await session.scalar(
            select(Procedure.id)
            .where(Procedure.patient_id == series_id)
            .order_by(Procedure.performed_at.desc())
            .limit(1)
        )
    answer: dict[str, Any] = {
        "already_seeded": True,
        "clinic_id": str(clinic_id),
        "admin_email": ADMIN_EMAIL,
        "clinician_email": CLINICIAN_EMAIL,
        "passwords": "shown once, by the run that seeded it",
        "patient_ids": {mrn: str(patient_id) for mrn, patient_id in sorted(patients.items())},
    }
    if series_id is not None and last_block is not None:
        answer["links"] = _links(base_url.rstrip("/"), _Series(series_id, last_block, ""))
    return answer


async def refuse_unless_demo_database(services: Services) -> None:
    """Raises NotADemoDatabase if any clinic but the demo clinic exists. Reads only: run it
    before migrating, so that a real clinic's database is not even upgraded."""
    demo_clinic = select(StaffUser.clinic_id).where(StaffUser.email == ADMIN_EMAIL)
    others = select(func.count()).select_from(Clinic).where(Clinic.id.not_in(demo_clinic))
    async with services.db.read() as session:
        connection = await session.connection()
        if not await connection.run_sync(lambda sync: inspect(sync).has_table("clinics")):
            return  # a new database
        if count := int(await session.scalar(others) or 0):
            raise NotADemoDatabase(count)


def _random_password() -> str:
    return secrets.token_urlsafe(15)  # 120 bits, 20 characters


class _Series(NamedTuple):
    patient_id: uuid.UUID
    last_procedure_id: uuid.UUID
    code: str


def _links(base: str, series: _Series) -> dict[str, str]:
    patient, procedure = f"{base}/v1/patients/{series.patient_id}", series.last_procedure_id
    return {
        "docs": f"{base}/docs",
        "timeline": f"{patient}/timeline",
        "outcomes_chart": f"{patient}/outcomes.svg",
        "block_chart": f"{base}/v1/procedures/{procedure}/chart.svg",
    }


async def _seed_series(services: Services, admin_caller: Principal, now: datetime) -> _Series:
    """The first patient's three blocks, each entered shortly after it was performed and its
    reports sent as they were recorded, on a clock that walks through those moments."""
    clock = FixedClock(now - timedelta(days=_SERIES[0][0], hours=1))
    simulated = dataclasses.replace(services, clock=clock)
    mrn, name, tz, unit = SERIES_PATIENT
    patient = await create_patient(
        simulated,
        admin_caller,
        PatientCreate(mrn=mrn, display_name=name, timezone=tz, temperature_unit=unit),
    )
    patient_caller = Principal(patient.id, "patient", admin_caller.clinic_id, patient.id)
    for days_ago, baseline, reports in _SERIES:
        performed_at = (now - timedelta(days=days_ago)).replace(second=0, microsecond=0)
        clock.set(performed_at + timedelta(minutes=20))
        procedure = await create_procedure(
            simulated,
            admin_caller,
            patient.id,
            ProcedureCreate(
                performed_at=performed_at,
                side="left",
                levels=["L2", "L3"],
                indication="crps",
                baseline_pain=baseline,
                sedation=False,
            ),
        )
        previous = clock.now()
        for report in reports:
            recorded_at = performed_at + timedelta(hours=report.hours)
            # Windows that closed meanwhile are closed as the worker would, a minute after.
            for _, closes in DEFAULT_SCHEDULE:
                if previous < performed_at + closes <= recorded_at:
                    clock.set(performed_at + closes + timedelta(minutes=1))
                    await close_missed_checkins(simulated, clock.now())
            clock.set(recorded_at + timedelta(minutes=2))
            previous = clock.now()
            ended = report.ended_hours
            await submit_report(
                simulated,
                patient_caller,
                procedure.id,
                ReportIn(
                    client_report_id=uuid.uuid4(),
                    recorded_at=recorded_at,
                    pain_score=report.pain,
                    relief_percent=report.relief,
                    relief_ended_at=None
                    if ended is None
                    else performed_at + timedelta(hours=ended),
                    side_effects=[{"kind": k, "severity": s} for k, s in report.side_effects],
                ),
            )
    code = (await create_enrollment_code(services, admin_caller, patient.id)).code
    return _Series(patient.id, procedure.id, code)
