"""What the clock raises, not a report: missed check-ins, no relief by 14 days, escalation.

The worker calls these with its clock; tests call them with theirs. Each block is handled in
its own short transaction that first locks the procedure row, the same order report
submission takes (procedure, then check-ins), so the two never deadlock. Every change and the
outbox events announcing it commit together; a conditional UPDATE or a re-check under the lock
makes each happen exactly once, however many workers run.
"""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.events import add_alert_event
from app.alerts.models import Alert
from app.alerts.service import plan_alerts
from app.checkins.events import add_checkin_missed_event
from app.checkins.models import Checkin
from app.core.db import count_on_commit
from app.core.deps import Services
from app.procedures.models import Procedure
from app.procedures.service import ProcedureRef, lock_procedure_ref
from app.reports.judging import block_facts, row_facts
from app.reports.models import Report
from app.rules.engine import missed_checkin_finding, no_relief_due
from app.rules.ruleset import RuleSet, rule_set
from app.rules.thresholds import NO_RELIEF_HOURS

NO_RELIEF_AFTER = timedelta(hours=NO_RELIEF_HOURS)


async def _lock(session: AsyncSession, procedure_id: uuid.UUID) -> tuple[ProcedureRef, RuleSet]:
    """The block, locked, and the rule set its clinic is on now: what the clock raises is
    judged like a report stored at this moment (the same row, the same lock)."""
    procedure = await lock_procedure_ref(session, procedure_id)
    return procedure, rule_set(procedure.rule_set_version)


async def close_missed_checkins(services: Services, now: datetime, *, batch: int = 200) -> int:
    """Pending windows that closed by `now` become missed, each adding to the block's one
    missed_checkin alert. Returns how many windows it closed."""
    async with services.db.read() as session:
        procedure_ids = list(
            await session.scalars(
                select(Checkin.procedure_id)
                .where(Checkin.status == "pending", Checkin.closes_at <= now)
                .group_by(Checkin.procedure_id)
                .limit(batch)
            )
        )
    closed = 0
    for procedure_id in procedure_ids:
        async with services.db.write() as session:
            procedure, rules = await _lock(session, procedure_id)
            windows = await session.scalars(
                select(Checkin)
                .where(
                    Checkin.procedure_id == procedure_id,
                    Checkin.status == "pending",
                    Checkin.closes_at <= now,
                )
                .order_by(Checkin.due_at)
                .with_for_update()
            )
            block = block_facts(procedure)
            for window in windows:
                window.status = "missed"
                count_on_commit(session, "checkin_missed")
                add_checkin_missed_event(
                    session, procedure.clinic_id, procedure.patient_id, window, now
                )
                finding = missed_checkin_finding(block, window.due_at, window.closes_at, rules)
                await plan_alerts(
                    session,
                    clinic_id=procedure.clinic_id,
                    patient_id=procedure.patient_id,
                    procedure_id=procedure.id,
                    report_id=None,
                    findings=[finding],
                    rule_set_version=rules.version,
                    now=now,
                )
                await session.flush()  # the next miss re-triggers this alert, not a second one
                closed += 1
    return closed


async def raise_no_relief(services: Services, now: datetime, *, batch: int = 200) -> int:
    """Once per block, at 14 days: the no_relief alert when no report reached 50 % relief.
    Returns how many blocks it checked (0: nothing is due)."""
    async with services.db.read() as session:
        procedure_ids = list(
            await session.scalars(
                select(Procedure.id)
                .where(
                    Procedure.no_relief_checked_at.is_(None),
                    Procedure.performed_at <= now - NO_RELIEF_AFTER,
                )
                .limit(batch)
            )
        )
    checked = 0
    for procedure_id in procedure_ids:
        async with services.db.write() as session:
            procedure, rules = await _lock(session, procedure_id)
            marked = await session.scalar(
                update(Procedure)
                .where(Procedure.id == procedure_id, Procedure.no_relief_checked_at.is_(None))
                .values(no_relief_checked_at=now)
                .returning(Procedure.id)
            )
            if marked is None:  # another worker got here first
                continue
            reports = await session.scalars(
                select(Report).where(Report.procedure_id == procedure_id)
            )
            block = block_facts(procedure)
            finding = no_relief_due(block, [row_facts(r) for r in reports], now, rules)
            if finding is not None:
                await plan_alerts(
                    session,
                    clinic_id=procedure.clinic_id,
                    patient_id=procedure.patient_id,
                    procedure_id=procedure.id,
                    report_id=None,
                    findings=[finding],
                    rule_set_version=rules.version,
                    now=now,
                )
            checked += 1
    return checked


async def escalate_overdue_alerts(services: Services, now: datetime, *, batch: int = 200) -> int:
    """Open alerts past their escalation deadline emit alert.escalated, once each: the UPDATE
    only moves an alert still open with its deadline set, and clears the deadline.
    Returns how many alerts it escalated."""
    async with services.db.write() as session:
        due = (
            select(Alert.id)
            .where(Alert.escalate_at <= now, Alert.status == "open")
            .order_by(Alert.escalate_at)
            .limit(batch)
        )
        if not services.db.sqlite:
            # The blocks are locked, not the alerts: escalating an alert bumps its block's
            # revision (a trigger), and every writer takes the block before its alerts. A
            # block busy with a report, or in another worker's batch, waits for the next pass.
            due = due.join(Procedure, Procedure.id == Alert.procedure_id).with_for_update(
                of=Procedure, skip_locked=True, key_share=True
            )
        ids = list(await session.scalars(due))
        if not ids:
            return 0
        escalated = list(
            await session.scalars(
                update(Alert)
                .where(Alert.id.in_(ids), Alert.status == "open", Alert.escalate_at.is_not(None))
                .values(escalate_at=None, escalated_at=now)
                .returning(Alert)
            )
        )
        for alert in escalated:
            add_alert_event(session, alert, "alert.escalated", now)
            count_on_commit(session, "alert_escalated", alert.severity)
        return len(escalated)
