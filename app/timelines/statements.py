"""The timeline page's prebuilt statements, written as app/core/prebuilt.py says: building the
UNION ALL and its cache key on each request was about a fifth of a page's CPU
(bench/README.md), so each is built once per shape with every value a bound parameter."""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Uuid,
    bindparam,
    func,
    literal,
    select,
    union_all,
)

from app.alerts.models import Alert
from app.checkins.models import Checkin
from app.core.models import id_in
from app.core.pagination import newer_first_within
from app.procedures.models import Procedure
from app.reports.models import Report
from app.timelines.schemas import ItemType


@dataclass(frozen=True)
class Bounds:
    """Which of the optional page bounds a request has: one statement is built per shape."""

    types: tuple[ItemType, ...]
    since: bool
    until: bool
    after: bool


def _branch(
    kind: ItemType,
    at: Any,
    row_id: Any,
    procedure_id: Any,
    where: Sequence[ColumnElement[bool]],
    bounds: Bounds,
    *,
    join: Any = None,
) -> Select[Any]:
    query = select(
        literal(kind).label("type"),
        at.label("at"),
        row_id.label("id"),
        procedure_id.label("procedure_id"),
    )
    if join is not None:
        query = query.select_from(join)
    since = bindparam("since", type_=at.type) if bounds.since else None
    until = bindparam("until", type_=at.type) if bounds.until else None
    after = (bindparam("after_at", type_=at.type), bindparam("after_id", type_=Uuid()))
    query = query.where(*where)
    query = query.where(
        *newer_first_within(
            at, row_id, since=since, until=until, after=after if bounds.after else None
        )
    )
    # Ordered and cut in each branch, so each is one short index range scan.
    branch = query.order_by(at.desc(), row_id.desc()).limit(_LIMIT).subquery()
    return select(branch)


_PATIENT = bindparam("patient_id", type_=Uuid())
_LIMIT = bindparam("limit", type_=Integer())


@cache
def page_statement(bounds: Bounds) -> Select[Any]:
    """GET /v1/patients/{id}/timeline: the page's rows, one index range scan per kind."""
    branches = {
        "procedure": lambda: _branch(
            "procedure",
            Procedure.performed_at,
            Procedure.id,
            Procedure.id,
            [Procedure.patient_id == _PATIENT],
            bounds,
        ),
        "report": lambda: _branch(
            "report",
            Report.recorded_at,
            Report.id,
            Report.procedure_id,
            [Report.patient_id == _PATIENT],
            bounds,
        ),
        "alert": lambda: _branch(
            "alert",
            Alert.created_at,
            Alert.id,
            Alert.procedure_id,
            [Alert.patient_id == _PATIENT],
            bounds,
        ),
        # Check-ins are shown once due: the upcoming ones are on the block itself.
        "checkin": lambda: _branch(
            "checkin",
            Checkin.due_at,
            Checkin.id,
            Checkin.procedure_id,
            [
                Procedure.patient_id == _PATIENT,
                Checkin.due_at <= bindparam("now", type_=Checkin.due_at.type),
            ],
            bounds,
            join=Checkin.__table__.join(Procedure, Procedure.id == Checkin.procedure_id),
        ),
    }
    merged = union_all(*(branches[t]() for t in bounds.types)).subquery()
    return select(merged).order_by(merged.c.at.desc(), merged.c.id.desc()).limit(_LIMIT)


@cache
def by_ids(model: Any, dialect: str) -> Select[Any]:
    """The same request's items of one kind, by id; a block is also checked to be the patient's."""
    query = select(model).where(id_in(model.id, "ids", dialect))
    if model is Procedure:
        query = query.where(Procedure.patient_id == _PATIENT)
    return query


@cache
def next_due_statement() -> Select[Any]:
    """When the patient's next check-in falls due: a page drawn now holds until then, when
    that check-in joins the timeline without any row changing."""
    return (
        select(func.min(Checkin.due_at))
        .select_from(Checkin.__table__.join(Procedure, Procedure.id == Checkin.procedure_id))
        .where(
            Procedure.patient_id == _PATIENT,
            Checkin.due_at > bindparam("now", type_=Checkin.due_at.type),
        )
    )
