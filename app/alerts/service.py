import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.events import add_alert_event
from app.alerts.models import ACTIVE, Alert
from app.alerts.schemas import AlertOut, AlertSeverity, AlertStatus, RuleOut
from app.alerts.statements import WorklistShape, lock_block_of_alert, worklist_statement
from app.audit.record import stage
from app.core.audit import note_patients
from app.core.db import count_on_commit
from app.core.deps import Services
from app.core.domain_errors import InvalidCursor, NotFound, StateConflict
from app.core.models import column_fields, row_values
from app.core.pagination import cursor_time, cursor_uuid, cut_page, decode_cursor
from app.core.security import Principal
from app.core.types import Page
from app.outbox.schemas import EventType
from app.rules.engine import Finding
from app.rules.ruleset import public_rules, rule_set
from app.rules.vocabulary import FINDING_SEVERITY_RANK
from app.staff.models import Clinic
from app.staff.service import clinic_rule_set


async def _escalation_delays(session: AsyncSession, clinic_id: uuid.UUID) -> dict[str, timedelta]:
    row = (
        await session.execute(
            select(Clinic.escalate_emergency_minutes, Clinic.escalate_urgent_minutes).where(
                Clinic.id == clinic_id
            )
        )
    ).one()
    return {"emergency": timedelta(minutes=row[0]), "urgent": timedelta(minutes=row[1])}


async def plan_alerts(
    session: AsyncSession,
    *,
    clinic_id: uuid.UUID,
    patient_id: uuid.UUID,
    procedure_id: uuid.UUID,
    report_id: uuid.UUID | None,
    findings: Sequence[Finding],
    rule_set_version: int,
    now: datetime,
) -> list[Alert]:
    """The alerts these findings create or re-trigger, as ORM objects not yet flushed, with the
    outbox events that tell the clinic: alert.created, or alert.severity_raised when a
    re-trigger raises the severity (a re-trigger at the same severity is not news).

    The caller holds the procedure's lock, so no other transaction raises an alert for it
    meanwhile; the partial unique index is the backstop. A re-trigger counts an occurrence,
    refreshes the title and explanation and only ever raises the severity; the alert then
    names the rule and rule set (`rule_set_version`, the one the findings came from) that last
    fired it, in that rule set's words."""
    if not findings:
        return []
    active = {
        a.rule_id: a
        for a in await session.scalars(
            select(Alert)
            .where(
                Alert.procedure_id == procedure_id,
                Alert.rule_id.in_([f.rule_id for f in findings]),
                Alert.status.in_(ACTIVE),
            )
            # Locked: a clinician resolving it (or the worker escalating it) meanwhile must not
            # have this report update a row that is no longer active; waiting re-reads it.
            .with_for_update()
        )
    }
    delays: dict[str, timedelta] | None = None
    alerts = []
    for finding in findings:
        rank = FINDING_SEVERITY_RANK[finding.severity]
        alert = active.get(finding.rule_id)
        if alert is not None:
            alerts.append(alert)
            alert.occurrences += 1
            alert.last_triggered_at = now
            alert.title, alert.explanation = finding.title, list(finding.explanation)
            alert.rule_version = finding.rule_version
            alert.rule_set_version = rule_set_version
            if rank >= alert.severity_rank:
                continue  # the same news again: no event
        if finding.severity in ("emergency", "urgent") and delays is None:
            delays = await _escalation_delays(session, clinic_id)
        deadline = now + delays[finding.severity] if delays and finding.severity in delays else None
        if alert is None:
            alert = Alert(
                id=uuid.uuid4(),
                clinic_id=clinic_id,
                patient_id=patient_id,
                procedure_id=procedure_id,
                report_id=report_id,
                rule_id=finding.rule_id,
                rule_version=finding.rule_version,
                rule_set_version=rule_set_version,
                severity=finding.severity,
                severity_rank=rank,
                title=finding.title,
                explanation=list(finding.explanation),
                status="open",
                created_at=now,
                last_triggered_at=now,
                occurrences=1,
                escalate_at=deadline,
            )
            session.add(alert)
            alerts.append(alert)
            add_alert_event(session, alert, "alert.created", now)
            count_on_commit(session, "alert_raised", finding.rule_id, finding.severity)
            continue
        alert.severity, alert.severity_rank = finding.severity, rank
        # Escalation happens once per alert; a sooner deadline applies if it has not yet.
        if alert.status == "open" and alert.escalated_at is None and deadline is not None:
            current = alert.escalate_at
            alert.escalate_at = deadline if current is None else min(current, deadline)
        add_alert_event(session, alert, "alert.severity_raised", now)
    return alerts


async def list_rules(services: Services, caller: Principal, version: int | None) -> list[RuleOut]:
    if version is not None:
        rules = rule_set(version)
    else:
        async with services.db.read() as session:
            rules = await clinic_rule_set(session, caller.clinic_id)
    return [RuleOut.model_validate(rule) for rule in public_rules(rules)]


def alert_out(alert: Alert) -> AlertOut:
    return AlertOut.model_validate(alert)


async def list_alerts(
    services: Services,
    caller: Principal,
    *,
    statuses: Sequence[AlertStatus],
    severity: AlertSeverity | None,
    patient_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> Page[AlertOut]:
    """The worklist: emergency, urgent, routine; oldest first within a severity."""
    params: dict[str, Any] = {"clinic_id": caller.clinic_id, "statuses": list(statuses)}
    params.update(severity=severity, patient_id=patient_id, limit=limit + 1)
    if cursor:
        params["rank"], params["at"], params["last_id"] = _decode_worklist_cursor(cursor)
    shape = WorklistShape(severity is not None, patient_id is not None, cursor is not None)
    rows = await services.db.lookup_rows(worklist_statement(shape, services.db.dialect), params)
    page, next_cursor = cut_page(
        rows, limit, lambda a: (a.severity_rank, a.created_at.isoformat(), a.id)
    )
    note_patients(*(a.patient_id for a in page))
    names = column_fields(AlertOut, _ALERTS)
    items = [row_values(row, names) for row in page]
    return Page[AlertOut].model_validate({"items": items, "next_cursor": next_cursor})


_ALERTS = cast(Table, Alert.__table__)  # rows, not entities: a page is only read


def _decode_worklist_cursor(cursor: str) -> tuple[int, datetime, uuid.UUID]:
    rank, at, last_id = decode_cursor(cursor, 3)
    if rank not in {str(r) for r in FINDING_SEVERITY_RANK.values()}:
        raise InvalidCursor()
    return int(rank), cursor_time(at), cursor_uuid(last_id)


async def get_alert(services: Services, caller: Principal, alert_id: uuid.UUID) -> AlertOut:
    async with services.db.read() as session:
        return alert_out(await _load(session, caller, alert_id))


async def _load(session: AsyncSession, caller: Principal, alert_id: uuid.UUID) -> Alert:
    alert = await session.scalar(
        select(Alert).where(Alert.id == alert_id, Alert.clinic_id == caller.clinic_id)
    )
    if alert is None:
        raise NotFound("alert")
    note_patients(alert.patient_id)
    return alert


def _actor(verb: str, caller: Principal) -> dict[str, uuid.UUID | None]:
    """Who moved the alert: a staff user, or an integration client (a column of its own)."""
    return {f"{verb}_by": caller.staff_user_id, f"{verb}_by_client_id": caller.client_id}


async def acknowledge(
    services: Services, caller: Principal, alert_id: uuid.UUID, note: str | None
) -> AlertOut:
    now = services.clock.now()
    values: dict[str, object] = {
        "status": "acknowledged",
        "acknowledged_at": now,
        **_actor("acknowledged", caller),
        "acknowledgement_note": note,
        "escalate_at": None,
    }
    return await _transition(
        services, caller, alert_id, ("open",), values, now, "alert.acknowledged"
    )


async def resolve(
    services: Services, caller: Principal, alert_id: uuid.UUID, note: str
) -> AlertOut:
    now = services.clock.now()
    values: dict[str, object] = {
        "status": "resolved",
        "resolved_at": now,
        **_actor("resolved", caller),
        "resolution_note": note,
        "escalate_at": None,
    }
    return await _transition(services, caller, alert_id, ACTIVE, values, now, "alert.resolved")


async def _transition(
    services: Services,
    caller: Principal,
    alert_id: uuid.UUID,
    allowed_from: Sequence[str],
    values: dict[str, object],
    now: datetime,
    event: EventType,
) -> AlertOut:
    # A conditional UPDATE: two clinicians acting at once cannot both move the same alert.
    async with services.db.write() as session:
        await session.execute(
            lock_block_of_alert(), {"alert_id": alert_id, "clinic_id": caller.clinic_id}
        )
        moved = await session.scalar(
            update(Alert)
            .where(
                Alert.id == alert_id,
                Alert.clinic_id == caller.clinic_id,
                Alert.status.in_(allowed_from),
            )
            .values(**values)
            .returning(Alert)
        )
        if moved is None:
            alert = await _load(session, caller, alert_id)  # 404 when not the caller's
            raise StateConflict(f"an alert that is {alert.status} cannot become {values['status']}")
        add_alert_event(session, moved, event, now)
        note_patients(moved.patient_id)
        await stage(session, now)
        return alert_out(moved)
