import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.checkins.models import Checkin
from app.checkins.statements import complete_checkin_statement

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
        complete_checkin_statement(),
        {
            "id": report_id,
            "received_at": now,
            "procedure_id": procedure_id,
            "recorded_at": recorded_at,
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
