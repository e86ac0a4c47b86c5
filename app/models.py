"""Imports every model so Base.metadata is complete (Alembic autogenerate, model tests)."""

from app.alerts.models import Alert
from app.audit.models import AuditEvent, AuditEventPatient
from app.checkins.models import Checkin
from app.core.keyring import SigningKeyRecord
from app.core.models import Base
from app.credentials.models import (
    EnrollmentCode,
    PatientDevice,
    RefreshToken,
    StaffSession,
)
from app.fhir.export_models import FhirExportJob
from app.integrations.models import IntegrationClient, UsedClientAssertion
from app.outbox.models import OutboxEvent
from app.patients.models import Patient
from app.procedures.models import Procedure
from app.reports.models import Report
from app.staff.models import Clinic, StaffUser
from app.webhooks.models import DeliveryAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "Alert",
    "AuditEvent",
    "AuditEventPatient",
    "Base",
    "Checkin",
    "Clinic",
    "DeliveryAttempt",
    "EnrollmentCode",
    "FhirExportJob",
    "IntegrationClient",
    "OutboxEvent",
    "Patient",
    "PatientDevice",
    "Procedure",
    "RefreshToken",
    "Report",
    "SigningKeyRecord",
    "StaffSession",
    "StaffUser",
    "UsedClientAssertion",
    "WebhookDelivery",
    "WebhookEndpoint",
]
