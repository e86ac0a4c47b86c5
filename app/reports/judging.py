"""Turning stored rows into the rule engine's facts, and keeping verdicts consistent when an
offline report arrives after reports recorded later than it."""

import uuid
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.service import plan_alerts
from app.procedures.service import ProcedureRef
from app.reports.models import Report
from app.rules.engine import ProcedureFacts, ReportFacts, evaluate
from app.rules.vocabulary import Severity, SideEffectKind

RECENT = 20  # earlier reports fetched to judge one: only the previous ones matter


def facts_of(
    recorded_at: datetime,
    pain_score: int,
    relief_percent: int | None,
    temperature_c: float | None,
    side_effects: list[dict[str, str]],
) -> ReportFacts:
    effects = {SideEffectKind(e["kind"]): Severity(e["severity"]) for e in side_effects}
    return ReportFacts(recorded_at, pain_score, relief_percent, temperature_c, effects)


def row_facts(row: Report) -> ReportFacts:
    return facts_of(
        row.recorded_at, row.pain_score, row.relief_percent, row.temperature_c, row.side_effects
    )


class Block(Protocol):
    """A procedure as a plain row (ProcedureRef) or an ORM entity."""

    @property
    def performed_at(self) -> datetime: ...
    @property
    def baseline_pain(self) -> int: ...
    @property
    def baseline_symptoms(self) -> list[str]: ...


def block_facts(procedure: Block) -> ProcedureFacts:
    symptoms = frozenset(SideEffectKind(s) for s in procedure.baseline_symptoms)
    return ProcedureFacts(procedure.performed_at, procedure.baseline_pain, symptoms)


async def rejudge_next_report(
    session: AsyncSession,
    procedure: ProcedureRef,
    late_report_id: uuid.UUID,
    recorded_at: datetime,
    now: datetime,
) -> None:
    """A report recorded before reports already judged becomes the "previous report" of the
    next one. Judge that next report again with it, and raise the alerts it now meets that it
    did not meet before (its first verdict and guidance stand; nothing is withdrawn). So a
    late sync ends with the same alerts as an in-order upload."""
    following = await session.scalar(
        select(Report)
        .where(Report.procedure_id == procedure.id, Report.recorded_at > recorded_at)
        .order_by(Report.recorded_at, Report.id)
        .limit(1)
    )
    if following is None:
        return
    rows = await session.scalars(
        select(Report)
        .where(Report.procedure_id == procedure.id, Report.recorded_at < following.recorded_at)
        .order_by(Report.recorded_at.desc())
        .limit(RECENT)
    )
    with_late = [(row.id, row_facts(row)) for row in rows]
    without_late = [facts for row_id, facts in with_late if row_id != late_report_id]
    block, report = block_facts(procedure), row_facts(following)
    before = {f.rule_id for f in evaluate(report, block, without_late)}
    now_met = [
        f for f in evaluate(report, block, [f for _, f in with_late]) if f.rule_id not in before
    ]
    await plan_alerts(
        session, clinic_id=procedure.clinic_id, patient_id=procedure.patient_id,
        procedure_id=procedure.id, report_id=following.id, findings=now_met, now=now,
    )  # fmt: skip
