"""A patient's timeline: blocks, reports, alerts and check-ins in one newest-first stream.

One statement finds the page: a UNION ALL of one index range scan per kind, each already
ordered and cut to the page size, merged and cut again. Each kind is then loaded by id. The
keyset is (at, id), so a page never repeats or skips an item while new ones arrive."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.models import Alert
from app.alerts.schemas import AlertOut
from app.checkins.models import Checkin
from app.checkins.schemas import CheckinOut
from app.core.deps import Services
from app.core.models import entity_values
from app.core.pagination import cut_page, decode_time_id_cursor
from app.core.security import Principal
from app.core.view_cache import View, json_body
from app.procedures.models import Procedure
from app.procedures.schemas import ProcedureFields
from app.procedures.service import PatientVersion, cached_patient_view
from app.reports.models import Report
from app.reports.service import report_values
from app.timelines import summaries
from app.timelines.schemas import ItemType, Timeline
from app.timelines.statements import (
    Bounds,
    by_ids,
    next_due_statement,
    page_statement,
)


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
) -> bytes:
    """The page as the JSON of a Timeline."""
    after = decode_time_id_cursor(cursor) if cursor else None
    bounds = Bounds(
        tuple(dict.fromkeys(types)), since is not None, until is not None, after is not None
    )
    now = services.clock.now()
    params: dict[str, Any] = {
        "patient_id": patient_id,
        "limit": limit + 1,
        "now": now,
        "since": since,
        "until": until,
    }
    if after is not None:
        params["after_at"], params["after_id"] = after

    async def draw(session: AsyncSession, _: PatientVersion) -> View:
        rows = (await session.execute(page_statement(bounds), params)).all()
        page, next_cursor = cut_page(rows, limit, lambda r: (r.at.isoformat(), r.id))
        items = await _load_items(session, patient_id, page)
        next_due = await session.scalar(next_due_statement(), params)
        body = json_body(Timeline.model_validate({"items": items, "next_cursor": next_cursor}))
        return View(body, expires_at=next_due)

    view = ("timeline", bounds, since, until, after, limit)
    return await cached_patient_view(services, caller, patient_id, view, draw)


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
        by_ids(Procedure, dialect), {"ids": procedure_ids, "patient_id": patient_id}
    )
    procedures = {p.id: p for p in blocks}
    loaded: dict[uuid.UUID, Any] = {}
    for model, kind in ((Report, "report"), (Alert, "alert"), (Checkin, "checkin")):
        if wanted.get(kind):
            rows = await session.scalars(by_ids(model, dialect), {"ids": wanted[kind]})
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
