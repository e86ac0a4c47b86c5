"""Turning stored rows into the rule engine's facts, and keeping verdicts consistent when an
offline report arrives after reports recorded later than it."""

import uuid
from datetime import datetime
from functools import cache
from typing import Any, Protocol

from sqlalchemy import CompoundSelect, Uuid, bindparam, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.service import plan_alerts
from app.core.models import UTCDateTime
from app.procedures.service import ProcedureRef
from app.reports.models import Report
from app.rules.engine import ProcedureFacts, ReportFacts, evaluate
from app.rules.vocabulary import Severity, SideEffectKind

RECENT = 20  # earlier reports fetched to re-judge a late report's successor


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


_JUDGED_COLUMNS = (
    Report.id,
    Report.client_report_id,
    Report.recorded_at,
    Report.pain_score,
    Report.relief_percent,
    Report.temperature_c,
    Report.side_effects,
)


_PREVIOUS_TIES = 10  # reports sharing the previous instant; the engine takes the mildest


@cache
def _neighbours_statement() -> CompoundSelect[Any]:
    """Built once, on first use (when foreign-key columns know their types): three index
    seeks, just the columns the rules read."""
    procedure_id = bindparam("procedure_id", type_=Uuid())
    patient_id = bindparam("patient_id", type_=Uuid())
    client_id = bindparam("client_report_id", type_=Uuid())
    at = bindparam("at", type_=UTCDateTime())
    previous_at = (
        select(func.max(Report.recorded_at))
        .where(Report.procedure_id == procedure_id, Report.recorded_at < at)
        .scalar_subquery()
    )
    previous = select(
        select(literal("previous"), *_JUDGED_COLUMNS)
        .where(Report.procedure_id == procedure_id, Report.recorded_at == previous_at)
        .limit(_PREVIOUS_TIES)
        .subquery()
    )
    same_key = select(literal("same_key"), *_JUDGED_COLUMNS).where(
        Report.patient_id == patient_id, Report.client_report_id == client_id
    )
    later = select(
        select(literal("later"), *_JUDGED_COLUMNS)
        .where(Report.procedure_id == procedure_id, Report.recorded_at > at)
        .order_by(Report.recorded_at)
        .limit(1)
        .subquery()
    )
    return union_all(previous, same_key, later)


async def neighbours(
    session: AsyncSession, procedure: ProcedureRef, at: datetime, client_report_id: uuid.UUID
) -> tuple[list[ReportFacts], uuid.UUID | None, bool]:
    """The previous report(s) (the latest recorded_at before this one: all the rules compare
    with), a row of the patient already holding this idempotency key, and whether a report
    recorded later exists (then this one arrived late and the next one is judged again)."""
    rows = await session.execute(
        _neighbours_statement(),
        {
            "procedure_id": procedure.id,
            "patient_id": procedure.patient_id,
            "client_report_id": client_report_id,
            "at": at,
        },
    )
    earlier, key_holder, arrived_late = [], None, False
    for role, row_id, client_id, recorded_at, pain, relief, temperature_c, effects in rows:
        if client_id == client_report_id:  # may be another block's report: then a 409
            key_holder = row_id
        elif role == "later":
            arrived_late = True
        elif role == "previous":
            earlier.append(facts_of(recorded_at, pain, relief, temperature_c, effects))
    return earlier, key_holder, arrived_late
