"""Imports every model so Base.metadata is complete (Alembic autogenerate, model tests)."""

from app.alerts.models import Alert
from app.auth.models import EnrollmentCode, RefreshToken
from app.checkins.models import Checkin
from app.core.models import Base
from app.patients.models import Patient
from app.procedures.models import Procedure
from app.reports.models import Report
from app.staff.models import Clinic, StaffUser

__all__ = [
    "Alert",
    "Base",
    "Checkin",
    "Clinic",
    "EnrollmentCode",
    "Patient",
    "Procedure",
    "RefreshToken",
    "Report",
    "StaffUser",
]
