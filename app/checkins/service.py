import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, Uuid, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.checkins.models import Checkin
from app.core.models import UTCDateTime

# The check-in schedule, defined here (docs/clinical-rules.md has only the missed_checkin
# rule): each window's (due, closes) after the block's performed_at. The earliest open window
# holding a report's recorded_at is completed by it; a window that closes without one is
# missed (app/scheduled/service.py raises missed_checkin).
DEFAULT_SCHEDULE: tuple[tuple[timedelta, timedelta], ...] = (
    (timedelta(hours=1), timedelta(hours=3)),
    (timedelta(hours=4), timedelta(hours=8)),
    (timedelta(hours=24), timedelta(hours=36)),
    (timedelta(hours=48), timedelta(hours=60)),
    (timedelta(hours=72), timedelta(hours=84)),
    (timedelta(days=7), timedelta(days=8)),
    (timedelta(days=14), timedelta(days=15)),
)


def schedule_checkins(
    procedure_id: uuid.UUID, performed_at: datetime, now: datetime
) -> list[Checkin]:
    """Windows already closed when the block is entered are `skipped`: nobody could have
    answered them, so they raise nothing."""
    return [
        Checkin(
            id=uuid.uuid4(),
            procedure_id=procedure_id,
            due_at=performed_at + due,
            closes_at=performed_at + closes,
            status="skipped" if performed_at + closes <= now else "pending",
        )
        for due, closes in DEFAULT_SCHEDULE
    ]


_OPEN = ("pending", "missed", "skipped")
_checkins = cast(Table, Checkin.__table__)
_window_holding = (
    select(_checkins.c.id)
    .where(
        _checkins.c.procedure_id == bindparam("for_procedure", type_=Uuid()),
        _checkins.c.status.in_(_OPEN),
        _checkins.c.due_at <= bindparam("at", type_=UTCDateTime()),
        _checkins.c.closes_at > bindparam("at", type_=UTCDateTime()),
    )
    .order_by(_checkins.c.due_at)
    .limit(1)
    .scalar_subquery()
)
# Built once (a hot path), with explicit types: a foreign-key column's type is only filled
# in once the referenced table is known, which may be after this module is imported.
# The status test is repeated outside the subquery: on PostgreSQL a
# concurrent report may complete the same row first, and after waiting for its lock only the
# outer WHERE is checked again; without it the second report would overwrite the first.
_COMPLETE_CHECKIN = (
    update(_checkins)
    .where(_checkins.c.id == _window_holding, _checkins.c.status.in_(_OPEN))
    .values(
        status="completed",
        report_id=bindparam("by_report", type_=Uuid()),
        completed_at=bindparam("done_at", type_=UTCDateTime()),
    )
    .returning(_checkins.c.id)
)


async def complete_checkin_for_report(
    session: AsyncSession,
    procedure_id: uuid.UUID,
    report_id: uuid.UUID,
    recorded_at: datetime,
    now: datetime,
) -> uuid.UUID | None:
    """The earliest open window [due, closes) holding recorded_at is completed. Missed and
    skipped windows count as open here: a late offline upload shows the patient did answer."""
    connection = await session.connection()
    done = await connection.execute(
        _COMPLETE_CHECKIN,
        {
            "for_procedure": procedure_id,
            "at": recorded_at,
            "by_report": report_id,
            "done_at": now,
        },
    )
    completed: uuid.UUID | None = done.scalar_one_or_none()
    return completed


async def checkins_by_procedure(
    session: AsyncSession, procedure_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[Checkin]]:
    ids = list(procedure_ids)
    grouped: dict[uuid.UUID, list[Checkin]] = defaultdict(list)
    if not ids:
        return grouped
    rows = await session.scalars(
        select(Checkin).where(Checkin.procedure_id.in_(ids)).order_by(Checkin.due_at)
    )
    for row in rows:
        grouped[row.procedure_id].append(row)
    return grouped
