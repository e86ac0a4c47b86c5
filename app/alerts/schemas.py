import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from app.core.types import RequestModel, ResponseModel, Text
from app.rules.vocabulary import FindingSeverity

AlertSeverity = FindingSeverity  # an alert is as urgent as the finding that raised it
AlertStatus = Literal["open", "acknowledged", "resolved"]


class AlertOut(ResponseModel):
    id: uuid.UUID
    patient_id: uuid.UUID
    procedure_id: uuid.UUID
    report_id: uuid.UUID | None
    rule_id: str
    rule_version: int
    rule_set_version: int = Field(description="The rule set that raised or last re-triggered it.")
    severity: AlertSeverity
    title: str
    explanation: list[str] = Field(description="The facts that fired it, for a clinician.")
    status: AlertStatus
    created_at: datetime
    last_triggered_at: datetime
    occurrences: int
    acknowledged_at: datetime | None
    acknowledged_by: uuid.UUID | None
    acknowledgement_note: str | None
    resolved_at: datetime | None
    resolved_by: uuid.UUID | None
    resolution_note: str | None
    acknowledged_by_client_id: uuid.UUID | None = Field(
        default=None, description="The integration client that acknowledged it, if one did."
    )
    resolved_by_client_id: uuid.UUID | None = Field(
        default=None, description="The integration client that resolved it, if one did."
    )
    escalated_at: datetime | None = Field(
        default=None,
        description="When it escalated: open and unacknowledged past the clinic's delay.",
    )


class AlertNotice(ResponseModel):
    """An alert as the report's sender is told of it (the patient's app, or staff entering a
    report for the patient): never the clinician-facing explanation, who acknowledged or
    resolved it, their notes, or escalation. Staff read the whole alert at /v1/alerts/{id}."""

    id: uuid.UUID
    rule_id: str
    rule_version: int
    # 1 in responses stored before rule sets were chosen per clinic (replayed as sent).
    rule_set_version: int = 1
    severity: AlertSeverity
    title: str
    status: AlertStatus
    created_at: datetime


class AcknowledgeIn(RequestModel):
    note: Text | None = Field(default=None, max_length=2000)


class ResolveIn(RequestModel):
    note: Text = Field(min_length=1, max_length=2000, description="What was done.")


class RuleOut(BaseModel):
    id: str
    version: int
    severity: AlertSeverity
    title: str
    description: str
