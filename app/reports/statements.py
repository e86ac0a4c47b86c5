"""The report POST's prebuilt statements, written as app/core/prebuilt.py says: the
neighbours read that comes before judging, and the insert that claims the idempotency key."""

from functools import cache
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    CompoundSelect,
    Integer,
    Table,
    TextualSelect,
    Uuid,
    bindparam,
    func,
    literal,
    null,
    select,
    text,
    union_all,
)

from app.audit.statements import event_ctes
from app.checkins.statements import completing_update
from app.core.models import UTCDateTime
from app.core.prebuilt import insert_every_column
from app.reports.models import Report

_REPORTS = cast(Table, Report.__table__)
_STORED = "EXISTS (SELECT FROM report)"  # storing_statement's report was inserted

# The columns facts_of() reads, in its order (the dry run replays the same).
FACT_COLUMNS = (
    Report.recorded_at,
    Report.pain_score,
    Report.relief_percent,
    Report.temperature_c,
    Report.side_effects,
    Report.blood_glucose_mmol,
)
# id, key and version, then facts_of's arguments in order.
JUDGED_COLUMNS = (Report.id, Report.client_report_id, Report.rule_set_version, *FACT_COLUMNS)


PREVIOUS_TIES = 10  # reports sharing the previous instant; the engine takes the mildest


@cache
def neighbours_statement() -> CompoundSelect[Any]:
    """Before judging a report (judging.py neighbours): three index seeks, just the columns
    the rules read, and the block's report count."""
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
        select(literal("previous"), *JUDGED_COLUMNS)
        .where(Report.procedure_id == procedure_id, Report.recorded_at == previous_at)
        .limit(PREVIOUS_TIES)
        .subquery()
    )
    same_key = select(literal("same_key"), *JUDGED_COLUMNS).where(
        Report.patient_id == patient_id, Report.client_report_id == client_id
    )
    later = select(
        select(literal("later"), *JUDGED_COLUMNS)
        .where(Report.procedure_id == procedure_id, Report.recorded_at > at)
        .order_by(Report.recorded_at, Report.id)
        .limit(1)
        .subquery()
    )
    # The block's report count rides along (in the version column) to save a round trip, and
    # stops at `count_up_to`: the cap only asks whether the block is full.
    counted = select(Report.id).where(Report.procedure_id == procedure_id)
    counted = counted.limit(bindparam("count_up_to", type_=Integer()))
    count = select(func.count()).select_from(counted.subquery()).scalar_subquery()
    padding = [null()] * (len(JUDGED_COLUMNS) - 3)
    block_count = select(literal("count"), null(), null(), count, *padding)
    return union_all(previous, same_key, later, block_count)


def _claiming_sql() -> tuple[str, list[BindParameter[Any]]]:
    sql, parameters = insert_every_column(_REPORTS)
    return f"{sql} ON CONFLICT (patient_id, client_report_id) DO NOTHING RETURNING id", parameters


@cache
def claiming_insert() -> TextualSelect:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id, the same SQL on both databases. Text:
    SQLAlchemy cannot cache an ON CONFLICT insert, and compiling it on every report cost about
    1 ms of CPU (bench/README.md)."""
    sql, parameters = _claiming_sql()
    return text(sql).bindparams(*parameters).columns(_REPORTS.c.id)


@cache
def storing_statement() -> TextualSelect:
    """PostgreSQL: claiming_insert, the check-in the report completes and the request's audit
    event with its patient, in one statement. Each statement through SQLAlchemy and asyncpg
    costs a report 0.15-0.25 ms of CPU, a round trip included (bench/README.md, "POST report
    in one statement"); SQLite runs the three apart. The check-in and the event are written
    only with the report: on a conflict neither is, and the caller refuses the report."""
    claim, parameters = _claiming_sql()
    event, event_parameters = event_ctes(_STORED)
    sql = (
        f"WITH report AS ({claim}), "  # noqa: S608
        f"checkin AS ({completing_update(_STORED)}), "
        f"{event} SELECT id FROM report"
    )
    return text(sql).bindparams(*parameters, *event_parameters).columns(_REPORTS.c.id)
