"""A patient's timeline: blocks, reports, alerts and check-ins in one newest-first stream.

One statement finds the page: a UNION ALL of one index range scan per kind, each already
ordered and cut to the page size, merged and cut again. Each kind is then loaded by id. The
keyset is (at, id), so a page never repeats or skips an item while new ones arrive."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, Uuid, bindparam, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.models import Alert
from app.alerts.schemas import AlertOut
from app.checkins.models import Checkin
from app.checkins.schemas import CheckinOut
from app.core.deps import Services
from app.core.models import entity_values, id_in
from app.core.pagination import cut_page, decode_time_id_cursor, newer_first_within
from app.core.security import Principal
from app.patients.service import load_patient
from app.procedures.models import Procedure
from app.procedures.schemas import ProcedureFields
from app.reports.models import Report
from app.reports.service import report_values
from app.timelines import summaries
from app.timelines.schemas import ItemType, Timeline


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
def _page_statement(bounds: Bounds) -> Select[Any]:
    """The page's UNION ALL, built once per shape with every value a bound parameter: building
    it and its cache key on each request was about a fifth of a timeline page's CPU."""
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


async def timeline(
    services: Services,
    caller: Principal,
    patient_id: uuid.UUID,
    *,
    types: Sequence[ItemType],
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
) -> Timeline:
    after = decode_time_id_cursor(cursor) if cursor else None
    bounds = Bounds(
        tuple(dict.fromkeys(types)), since is not None, until is not None, after is not None
    )
    params: dict[str, Any] = {
        "patient_id": patient_id,
        "limit": limit + 1,
        "now": services.clock.now(),
        "since": since,
        "until": until,
    }
    if after is not None:
        params["after_at"], params["after_id"] = after
    async with services.db.read() as session:
        await load_patient(session, caller, patient_id)
        rows = (await session.execute(_page_statement(bounds), params)).all()
        page, next_cursor = cut_page(rows, limit, lambda r: (r.at.isoformat(), r.id))
        items = await _load_items(session, patient_id, page)
    return Timeline.model_validate({"items": items, "next_cursor": next_cursor})


@cache
def _by_ids(model: Any, dialect: str) -> Select[Any]:
    """The rows of one kind by id (built once, like the page). A block is also checked to be
    the patient's."""
    query = select(model).where(id_in(model.id, "ids", dialect))
    if model is Procedure:
        query = query.where(Procedure.patient_id == _PATIENT)
    return query


async def _load_items(
    session: AsyncSession, patient_id: uuid.UUID, page: Sequence[Any]
) -> list[dict[str, Any]]:
    """The page's items as the dicts Timeline validates, all in one pass."""
    wanted: dict[str, list[uuid.UUID]] = {}
    for row in page:
        wanted.setdefault(row.type, []).append(row.id)
    dialect = session.get_bind().dialect.name
    # Every item needs its block (the baseline for relief, the number for the text).
    procedure_ids = list({row.procedure_id for row in page})
    blocks = await session.scalars(
        _by_ids(Procedure, dialect), {"ids": procedure_ids, "patient_id": patient_id}
    )
    procedures = {p.id: p for p in blocks}
    loaded: dict[uuid.UUID, Any] = {}
    for model, kind in ((Report, "report"), (Alert, "alert"), (Checkin, "checkin")):
        if wanted.get(kind):
            rows = await session.scalars(_by_ids(model, dialect), {"ids": wanted[kind]})
            loaded.update((row.id, row) for row in rows)
    items: list[dict[str, Any]] = []
    for row in page:
        block = procedures[row.procedure_id]
        if row.type == "procedure":
            summary = summaries.procedure_line(block)
            data = entity_values(block, ProcedureFields)
        elif row.type == "report":
            report = loaded[row.id]
            summary = summaries.report_line(report, block.baseline_pain)
            data = report_values(report)
        elif row.type == "alert":
            alert = loaded[row.id]
            summary, data = summaries.alert_line(alert), entity_values(alert, AlertOut)
        else:
            checkin = loaded[row.id]
            summary = summaries.checkin_line(checkin, block)
            data = entity_values(checkin, CheckinOut)
        items.append(
            {"type": row.type, "at": row.at, "id": row.id, "procedure_id": block.id}
            | {"summary": summary, "data": data}
        )
    return items
