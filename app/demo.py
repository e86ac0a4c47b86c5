"""`aftercare demo`: a small clinic to click through, built with the same services the API uses."""

import uuid
from datetime import timedelta
from typing import Any

from app.core.deps import Services
from app.core.errors import Problem
from app.core.security import Principal
from app.patients.schemas import PatientCreate
from app.patients.service import create_enrollment_code, create_patient
from app.procedures.schemas import ProcedureCreate
from app.procedures.service import create_procedure
from app.reports.schemas import ReportIn
from app.reports.service import submit_report
from app.staff.schemas import StaffCreate
from app.staff.service import create_clinic_with_admin, create_staff

ADMIN_EMAIL = "admin@demo.aftercare.example"
CLINICIAN_EMAIL = "clinician@demo.aftercare.example"
DEMO_PASSWORD = "demo-password-123"  # noqa: S105 - printed for the user on purpose

_PATIENTS = [
    (
        "DEMO-0001",
        "Jordan Alvarez",
        "America/Chicago",
        "F",
        7,
        [(1, 6, 10), (5, 4, 40), (26, 2, 70), (50, 3, 60)],
    ),
    ("DEMO-0002", "Priya Raman", "Europe/London", "C", 8, [(2, 8, 0), (24, 7, 10), (49, 8, 0)]),
    ("DEMO-0003", "Sam Okoro", "America/New_York", "F", 6, [(1, 2, 70), (30, 1, 85)]),
]


async def seed_demo(services: Services) -> dict[str, Any]:
    try:
        clinic, admin = await create_clinic_with_admin(
            services,
            clinic_name="Demo Pain Clinic",
            email=ADMIN_EMAIL,
            password=DEMO_PASSWORD,
            name="Demo Admin",
        )
    except Problem as exc:
        if exc.status == 409:
            return {"already_seeded": True, "admin_email": ADMIN_EMAIL, "password": DEMO_PASSWORD}
        raise
    admin_caller = Principal(admin.id, "admin", clinic.id)
    await create_staff(
        services,
        admin_caller,
        StaffCreate(
            email=CLINICIAN_EMAIL,
            password=DEMO_PASSWORD,
            name="Dr Demo Clinician",
            role="clinician",
        ),
    )
    now = services.clock.now()
    codes = {}
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
    return {
        "clinic_id": str(clinic.id),
        "admin_email": ADMIN_EMAIL,
        "clinician_email": CLINICIAN_EMAIL,
        "password": DEMO_PASSWORD,
        "enrollment_codes": codes,
    }
