"""Turning stored rows into the rule engine's facts, and keeping verdicts consistent when an
offline report arrives after reports recorded later than it."""

import uuid
from datetime import datetime
from typing import NamedTuple, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.service import plan_alerts
from app.procedures.models import included_steroid
from app.procedures.service import ProcedureRef
from app.reports.models import Report
from app.reports.statements import JUDGED_COLUMNS, neighbours_statement
from app.rules.engine import ProcedureFacts, ReportFacts, evaluate
from app.rules.ruleset import rule_set
from app.rules.vocabulary import Severity, SideEffectKind

RECENT = 20  # earlier reports fetched to re-judge a late report's successor


def facts_of(
    recorded_at: datetime,
    pain_score: int,
    relief_percent: int | None,
    temperature_c: float | None,
    side_effects: list[dict[str, str]],
    glucose_mmol: float | None,
) -> ReportFacts:
    effects = {SideEffectKind(e["kind"]): Severity(e["severity"]) for e in side_effects}
    return ReportFacts(
        recorded_at, pain_score, relief_percent, temperature_c, effects, glucose_mmol
    )


def row_facts(row: Report) -> ReportFacts:
    return facts_of(
        row.recorded_at,
        row.pain_score,
        row.relief_percent,
        row.temperature_c,
        row.side_effects,
        row.blood_glucose_mmol,
    )


class Block(Protocol):
    """A block as a plain row: ProcedureRef, or the dry run's StoredBlock."""

    @property
    def performed_at(self) -> datetime: ...
    @property
    def baseline_pain(self) -> int: ...
    @property
    def baseline_symptoms(self) -> list[str]: ...
    @property
    def side(self) -> str: ...
    @property
    def steroid(self) -> object: ...  # as stored: the drug and dose, or None
    @property
    def timezone(self) -> str: ...  # the patient's (IANA name)


def block_facts(procedure: Block) -> ProcedureFacts:
    symptoms = frozenset(SideEffectKind(s) for s in procedure.baseline_symptoms)
    return ProcedureFacts(
        procedure.performed_at,
        procedure.baseline_pain,
        symptoms,
        bilateral=procedure.side == "bilateral",
        steroid=included_steroid(procedure.steroid),
        timezone=procedure.timezone,
    )


class Neighbour(NamedTuple):
    id: uuid.UUID
    rule_set_version: int  # the rule set that judged it
    facts: ReportFacts


async def rejudge_next_report(
    session: AsyncSession,
    procedure: ProcedureRef,
    block: ProcedureFacts,
    late_report_id: uuid.UUID,
    following: Neighbour,
    now: datetime,
) -> None:
    """A report recorded before reports already judged becomes the "previous report" of the
    next one (`following`, found by `neighbours`). Judge that next report again with it, and
    raise the alerts it now meets that it did not meet before (its first verdict and guidance
    stand; nothing is withdrawn). So a late sync ends with the same alerts as an in-order
    upload. It is judged again by the rule set that first judged it, even if the clinic has
    moved to another since: the new alerts complete that verdict, not a different one."""
    rows = await session.execute(
        select(*JUDGED_COLUMNS)
        .where(
            Report.procedure_id == procedure.id,
            Report.recorded_at < following.facts.recorded_at,
        )
        .order_by(Report.recorded_at.desc())
        .limit(RECENT)
    )
    with_late = [(row[0], facts_of(*row[3:])) for row in rows]
    without_late = [facts for row_id, facts in with_late if row_id != late_report_id]
    rules = rule_set(following.rule_set_version)
    before = {f.rule_id for f in evaluate(following.facts, block, without_late, rules)}
    with_it = evaluate(following.facts, block, [facts for _, facts in with_late], rules)
    await plan_alerts(
        session,
        clinic_id=procedure.clinic_id,
        patient_id=procedure.patient_id,
        procedure_id=procedure.id,
        report_id=following.id,
        findings=[f for f in with_it if f.rule_id not in before],
        rule_set_version=rules.version,
        now=now,
    )


class Neighbourhood(NamedTuple):
    earlier: list[ReportFacts]  # the previous report(s)
    same_key: uuid.UUID | None  # a report of the patient already holding the idempotency key
    later: Neighbour | None  # the next report recorded after this one
    block_reports: int  # reports the block holds, counted up to `count_up_to`


async def neighbours(
    session: AsyncSession,
    procedure: ProcedureRef,
    at: datetime,
    client_report_id: uuid.UUID,
    count_up_to: int,
) -> Neighbourhood:
    """The previous report(s) (the latest recorded_at before this one: all the rules compare
    with), a row of the patient already holding this idempotency key, the next report
    recorded after this one, if any (then this one arrived late and that one is judged
    again), and how many reports the block holds (at most `count_up_to`)."""
    rows = await session.execute(
        neighbours_statement(),
        {
            "procedure_id": procedure.id,
            "patient_id": procedure.patient_id,
            "client_report_id": client_report_id,
            "at": at,
            "count_up_to": count_up_to,
        },
    )
    earlier: list[ReportFacts] = []
    key_holder: uuid.UUID | None = None
    later: Neighbour | None = None
    block_reports = 0
    for role, row_id, client_id, version, *judged in rows:
        if role == "count":
            block_reports = version
        elif client_id == client_report_id:  # may be another block's report: then a 409
            key_holder = row_id
        elif role == "later":
            later = Neighbour(row_id, version, facts_of(*judged))
        elif role == "previous":
            earlier.append(facts_of(*judged))
    return Neighbourhood(earlier, key_holder, later, block_reports)
