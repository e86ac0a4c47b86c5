import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.checkins.models import Checkin

# red-flags.md "Check-ins": (due, closes) after performed_at.
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
    target = (
        select(Checkin.id)
        .where(
            Checkin.procedure_id == procedure_id,
            Checkin.status.in_(("pending", "missed", "skipped")),
            Checkin.due_at <= recorded_at,
            Checkin.closes_at > recorded_at,
        )
        .order_by(Checkin.due_at)
        .limit(1)
        .scalar_subquery()
    )
    done = await session.execute(
        update(Checkin)
        .where(Checkin.id == target)
        .values(status="completed", report_id=report_id, completed_at=now)
        .returning(Checkin.id)
    )
    return done.scalar_one_or_none()


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
