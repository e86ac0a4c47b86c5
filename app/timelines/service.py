"""A patient's timeline: blocks, reports, alerts and check-ins in one newest-first stream.

One statement finds the page: a UNION ALL of one index range scan per kind, each already
ordered and cut to the page size, merged and cut again. Each kind is then loaded by id. The
keyset is (at, id), so a page never repeats or skips an item while new ones arrive."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.models import Alert
from app.alerts.service import alert_out
from app.checkins.models import Checkin
from app.checkins.schemas import CheckinOut
from app.core.deps import Services
from app.core.pagination import cut_page, decode_time_id_cursor, newer_first_within
from app.core.security import Principal
from app.patients.service import load_patient
from app.procedures.models import Procedure
from app.procedures.schemas import ProcedureFields
from app.reports.models import Report
from app.reports.service import report_out
from app.timelines import summaries
from app.timelines.schemas import (
    AlertItem,
    CheckinItem,
    ItemType,
    ProcedureItem,
    ReportItem,
    Timeline,
    TimelineItem,
)


@dataclass(frozen=True)
class Window:
    limit: int
    after: tuple[datetime, uuid.UUID] | None
    since: datetime | None
    until: datetime | None


def _branch(
    kind: ItemType,
    at: Any,
    row_id: Any,
    procedure_id: Any,
    where: Sequence[ColumnElement[bool]],
    window: Window,
    *,
    join: Any = None,
) -> Select[Any]:
    query = select(
        literal(kind).label("type"), at.label("at"), row_id.label("id"),
        procedure_id.label("procedure_id"),
    )  # fmt: skip
    if join is not None:
        query = query.select_from(join)
    query = query.where(*where)
    query = query.where(
        *newer_first_within(at, row_id, since=window.since, until=window.until, after=window.after)
    )
    # Ordered and cut in each branch, so each is one short index range scan.
    branch = query.order_by(at.desc(), row_id.desc()).limit(window.limit).subquery()
    return select(branch)


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
    now = services.clock.now()
    window = Window(limit + 1, after, since, until)
    branches = {
        "procedure": lambda: _branch(
            "procedure", Procedure.performed_at, Procedure.id, Procedure.id,
            [Procedure.patient_id == patient_id], window,
        ),
        "report": lambda: _branch(
            "report", Report.recorded_at, Report.id, Report.procedure_id,
            [Report.patient_id == patient_id], window,
        ),
        "alert": lambda: _branch(
            "alert", Alert.created_at, Alert.id, Alert.procedure_id,
            [Alert.patient_id == patient_id], window,
        ),
        # Check-ins are shown once due: the upcoming ones are on the block itself.
        "checkin": lambda: _branch(
            "checkin", Checkin.due_at, Checkin.id, Checkin.procedure_id,
            [Procedure.patient_id == patient_id, Checkin.due_at <= now], window,
            join=Checkin.__table__.join(Procedure, Procedure.id == Checkin.procedure_id),
        ),
    }  # fmt: skip
    merged = union_all(*(branches[t]() for t in dict.fromkeys(types))).subquery()
    page_query = select(merged).order_by(merged.c.at.desc(), merged.c.id.desc()).limit(limit + 1)
    async with services.db.read() as session:
        await load_patient(session, caller, patient_id)
        rows = (await session.execute(page_query)).all()
        page, next_cursor = cut_page(rows, limit, lambda r: (r.at.isoformat(), r.id))
        items = await _load_items(session, patient_id, page)
    return Timeline(items=items, next_cursor=next_cursor)


async def _load_items(
    session: AsyncSession, patient_id: uuid.UUID, page: Sequence[Any]
) -> list[TimelineItem]:
    wanted: dict[str, list[uuid.UUID]] = {}
    for row in page:
        wanted.setdefault(row.type, []).append(row.id)
    # Every item needs its block (the baseline for relief, the number for the text).
    procedure_ids = {row.procedure_id for row in page}
    procedures = {
        p.id: p
        for p in await session.scalars(
            select(Procedure).where(
                Procedure.id.in_(procedure_ids), Procedure.patient_id == patient_id
            )
        )
    }
    loaded: dict[uuid.UUID, Any] = {}
    models: tuple[tuple[Any, str], ...] = (
        (Report, "report"),
        (Alert, "alert"),
        (Checkin, "checkin"),
    )
    for model, kind in models:
        if wanted.get(kind):
            loaded.update(
                (row.id, row)
                for row in await session.scalars(select(model).where(model.id.in_(wanted[kind])))
            )
    items: list[TimelineItem] = []
    for row in page:
        block = procedures[row.procedure_id]
        if row.type == "procedure":
            items.append(ProcedureItem(
                type="procedure", at=row.at, id=row.id, procedure_id=block.id,
                summary=summaries.procedure_summary(block),
                data=ProcedureFields.model_validate(block),
            ))  # fmt: skip
        elif row.type == "report":
            report = loaded[row.id]
            items.append(ReportItem(
                type="report", at=row.at, id=row.id, procedure_id=block.id,
                summary=summaries.report_summary(report, block.baseline_pain),
                data=report_out(report),
            ))  # fmt: skip
        elif row.type == "alert":
            alert = loaded[row.id]
            items.append(AlertItem(
                type="alert", at=row.at, id=row.id, procedure_id=block.id,
                summary=summaries.alert_summary(alert), data=alert_out(alert),
            ))  # fmt: skip
        else:
            checkin = loaded[row.id]
            items.append(CheckinItem(
                type="checkin", at=row.at, id=row.id, procedure_id=block.id,
                summary=summaries.checkin_summary(checkin, block),
                data=CheckinOut.model_validate(checkin),
            ))  # fmt: skip
    return items
