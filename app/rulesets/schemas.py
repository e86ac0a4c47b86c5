"""The dry run's request and answer: what a candidate rule set would have raised over the
clinic's stored reports, next to what its current rule set gives when replayed over the same
reports the same way ("now", "current": never the alerts stored, which an earlier rule set of
the clinic may have raised)."""

import uuid
from datetime import datetime

from pydantic import Field, model_validator

from app.core.types import Page, RequestModel, ResponseModel, UtcDatetime
from app.rules.guidance import GuidanceLevel
from app.rules.ruleset import RuleSetVersion
from app.rules.vocabulary import FindingSeverity

# The order of the guidance matrix's rows and columns: most to least urgent.
GUIDANCE_LEVELS: tuple[GuidanceLevel, ...] = ("emergency", "contact_provider", "expected", "none")


class DryRunIn(RequestModel):
    rule_set_version: RuleSetVersion = Field(
        strict=True, description="The candidate rule set (a JSON integer)."
    )
    since: UtcDatetime | None = Field(
        None, description="Judge reports recorded at or after this moment (default: all)."
    )
    until: UtcDatetime | None = Field(
        None,
        description="Judge reports recorded before this moment (default: no bound). Pass it "
        "when paging through the changed reports, so reports arriving meanwhile stay out.",
    )
    patient_id: uuid.UUID | None = Field(None, description="Only this patient's reports.")

    @model_validator(mode="after")
    def _window(self) -> "DryRunIn":
        if self.since is not None and self.until is not None and self.since >= self.until:
            raise ValueError("since must be before until")
        return self


class RuleDelta(ResponseModel):
    """One rule's alerts over the window, both sides replayed over the same reports. An alert
    is a (block, rule) pair: the block's first report in the window that fires the rule
    raises it, later ones would re-trigger it."""

    rule_id: str
    severity: FindingSeverity = Field(
        description="In the candidate rule set (else the current one)."
    )
    added: int = Field(
        description="Alerts the candidate would raise that the current rule set does not."
    )
    removed: int = Field(
        description="Alerts the current rule set raises that the candidate would not."
    )
    unchanged: int = Field(description="Alerts both raise.")


class GuidanceShift(ResponseModel):
    """One cell of the guidance matrix: reports the current rule set, replayed, gives
    `current` guidance and the candidate would give `candidate`."""

    current: GuidanceLevel
    candidate: GuidanceLevel
    reports: int


class ChangedReport(ResponseModel):
    """A report whose fired rules or guidance level would change."""

    report_id: uuid.UUID
    patient_id: uuid.UUID
    procedure_id: uuid.UUID
    block_sequence_number: int = Field(
        description="The block's number for its patient (1, 2, ...)."
    )
    recorded_at: datetime
    hours_since_block: float = Field(description="One decimal.")
    rules_now: list[str] = Field(
        description="Rule ids the current rule set fires on the replay, most severe first."
    )
    rules_candidate: list[str] = Field(description="Rule ids the candidate would fire.")
    guidance_now: GuidanceLevel
    guidance_candidate: GuidanceLevel


class DryRunOut(ResponseModel):
    """The candidate against the clinic's current rule set, both replayed over the same
    reports. "Current" and "now" are what the clinic's current rule set gives on that replay,
    not the alerts and guidance stored: a report stored before the clinic changed rule set
    was judged, and its alerts raised, by the earlier one. Reports are judged in recorded
    order: a report that arrived late is the previous report of the next one (as when the
    live path completes that one's alerts), though the guidance that one was shown when
    stored, before the late one arrived, stands."""

    rule_set_version: int = Field(description="The candidate rule set.")
    current_rule_set_version: int = Field(
        description="The clinic's rule set now: the other side of every comparison, replayed "
        "over the same reports (not necessarily the one that judged them when stored)."
    )
    since: datetime | None
    until: datetime | None
    patient_id: uuid.UUID | None
    reports_judged: int = Field(description="Reports recorded in the window.")
    blocks: int = Field(description="Blocks with at least one report in the window.")
    reports_changed: int = Field(description="Reports whose rules or guidance level change.")
    rules: list[RuleDelta] = Field(
        description="Every rule either set fires over the window, in the candidate's order "
        "(most severe first), then any rule only the current set has."
    )
    guidance: list[GuidanceShift] = Field(
        description="All 16 cells of the guidance matrix, zeros included: current level by "
        "candidate level, each in the order emergency, contact_provider, expected, none. The "
        "diagonal holds the reports whose level does not move."
    )
    changed_reports: Page[ChangedReport] = Field(
        description="Oldest first by (recorded_at, id); `cursor` and `limit` page it."
    )
