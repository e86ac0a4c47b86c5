"""Imports every model so Base.metadata is complete (Alembic autogenerate, model tests)."""

from app.alerts.models import Alert
from app.auth.models import EnrollmentCode, RefreshToken
from app.checkins.models import Checkin
from app.core.models import Base
from app.outbox.models import OutboxEvent
from app.patients.models import Patient
from app.procedures.models import Procedure
from app.reports.models import Report
from app.staff.models import Clinic, StaffUser
from app.webhooks.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "Alert",
    "Base",
    "Checkin",
    "Clinic",
    "DeliveryAttempt",
    "EnrollmentCode",
    "OutboxEvent",
    "Patient",
    "Procedure",
    "RefreshToken",
    "Report",
    "StaffUser",
    "WebhookDelivery",
    "WebhookEndpoint",
]
