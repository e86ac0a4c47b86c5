import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from app.alerts.schemas import AlertSeverity, AlertStatus
from app.rules.relief import Comparison, ReliefResponse


class PainPointOut(BaseModel):
    at: datetime
    hours_since_block: float
    pain_score: int
    relief_percent: int = Field(description="As reported, or derived from the pain score.")


class ReliefFigures(BaseModel):
    """How each figure is derived: docs/clinical-rules.md, "Relief"."""

    procedure_id: uuid.UUID
    sequence_number: int
    performed_at: datetime
    baseline_pain: int
    latest_pain: int | None
    lowest_pain: int | None
    peak_relief_percent: int | None
    relief_onset_at: datetime | None
    relief_ended_at: datetime | None
    relief_duration_hours: float | None = Field(
        description="Hours from the block, not from the onset of relief, to the end of relief "
        "(or, while ongoing, to the latest report): relief until this many hours after the "
        "block. Null without onset."
    )
    relief_ongoing: bool
    response: ReliefResponse = Field(
        description="positive (a report with relief of 50 % or more); negative (none, and a "
        "report at 24 h or later; 72 h after a block with a steroid on rule set 2); "
        "indeterminate (neither yet)."
    )
    report_count: int


class ActiveAlert(BaseModel):
    id: uuid.UUID
    rule_id: str
    rule_version: int
    rule_set_version: int = Field(description="The clinic's rule set that raised it.")
    severity: AlertSeverity
    status: AlertStatus
    created_at: datetime


class ProcedureSummary(ReliefFigures):
    side_effects: dict[str, int] = Field(description="How many reports named each side effect.")
    open_alerts: int = Field(description="Alerts still to work (open or acknowledged).")
    alerts: list[ActiveAlert] = Field(description="Those alerts, most severe first.")
    pain_series: list[PainPointOut]


class OutcomeRow(ReliefFigures):
    compared_with_previous: Comparison = Field(
        description="first; longer / shorter / same relief than the previous block (by "
        "relief_duration_hours); no_relief (none, and a report at 24 h or later; 72 h after a "
        "block with a steroid on rule set 2); too_early (relief still going and not yet as long "
        "as last time, or no relief yet and no such report)."
    )
    comparison: str = Field(description="The same, in a sentence.")


class Outcomes(BaseModel):
    items: list[OutcomeRow]
    next_cursor: str | None
