import hashlib
import json
import uuid
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.schemas import AlertNotice
from app.alerts.service import plan_alerts
from app.audit.record import event_for_change, stage, staged_with_change
from app.checkins.service import complete_checkin_for_report
from app.core.audit import note_resource
from app.core.db import count_on_commit
from app.core.deps import Services
from app.core.domain_errors import AlreadyExists, InvalidField, ReportCapReached
from app.core.models import entity_values
from app.core.pagination import cut_page, newer_first_after
from app.core.security import Principal
from app.core.types import Page
from app.procedures.service import FUTURE_TOLERANCE, ProcedureRef, load_procedure_ref
from app.reports.judging import (
    block_facts,
    facts_of,
    neighbours,
    rejudge_next_report,
)
from app.reports.models import Report
from app.reports.schemas import (
    ReportIn,
    ReportOut,
    ReportResult,
    to_mmol_per_l,
)
from app.reports.statements import claiming_insert, storing_statement
from app.rules.engine import evaluate, guidance_for
from app.rules.guidance import GuidanceLevel
from app.rules.ruleset import rule_set
from app.rules.temperature import to_celsius

Submission = Literal["created", "duplicate"]
# A ReportResult as JSON: exactly what was stored with the report and sent the first time.
ResultJson = dict[str, Any]
_NOTICE_KEYS = tuple(AlertNotice.model_fields)
_ADDED_FIELDS = ("blood_glucose",)


def request_digest(procedure_id: uuid.UUID, body: ReportIn) -> str:
    """Same meaning -> same digest: offsets are normalised to UTC, side effects sorted.
    Fields added since the first release are left out when absent, so a report stored before
    they existed and retried after an upgrade is still the same report (a replay, not a 409)."""
    canonical = body.model_dump(mode="json")
    for name in _ADDED_FIELDS:
        if canonical[name] is None:
            del canonical[name]
    canonical["side_effects"] = sorted(canonical["side_effects"], key=lambda e: e["kind"])
    canonical["procedure_id"] = str(procedure_id)
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def _check_times(procedure: ProcedureRef, body: ReportIn, now: datetime) -> None:
    if body.recorded_at < procedure.performed_at:
        raise InvalidField("recorded_at", "recorded_at is before the block was performed")
    if body.recorded_at > now + FUTURE_TOLERANCE:
        raise InvalidField("recorded_at", "recorded_at is more than 5 minutes in the future")
    ended = body.relief_ended_at
    if ended is not None and not procedure.performed_at <= ended <= body.recorded_at:
        raise InvalidField(
            "relief_ended_at",
            "relief_ended_at must fall between the block and the moment the report was recorded",
        )


def _reading(value: float | None, unit: str | None, converted: str, to: float | None) -> Any:
    """A measurement as the patient gave it, with the value the rules compare."""
    return None if value is None else {"value": value, "unit": unit, converted: to}


def report_out(report: Report) -> ReportOut:
    return ReportOut.model_validate(report_values(report))


def report_values(report: Report) -> dict[str, Any]:
    """What ReportOut validates: a page of reports is validated in one pass."""
    temperature = _reading(
        report.temperature_value, report.temperature_unit, "celsius", report.temperature_c
    )
    glucose = _reading(
        report.blood_glucose_value,
        report.blood_glucose_unit,
        "mmol_per_l",
        report.blood_glucose_mmol,
    )
    return {
        **entity_values(report, ReportOut),
        "temperature": temperature,
        "blood_glucose": glucose,
        "entered_by": "staff" if report.entered_by_staff_id else "patient",
    }


def _as_notices(stored: ResultJson) -> ResultJson:
    """A stored response with each alert cut down to its AlertNotice keys. Responses stored
    before AlertNotice existed hold the clinician's whole alert (explanation, acknowledgement
    and resolution notes, staff ids), which the patient must never be replayed."""
    alerts = stored.get("alerts") or []
    return {**stored, "alerts": [{k: a[k] for k in _NOTICE_KEYS if k in a} for a in alerts]}


async def _replay(
    session: AsyncSession, report_id: uuid.UUID, digest: str
) -> tuple[Submission, ResultJson]:
    """The single and the batch endpoint both replay through here."""
    existing = await session.get_one(Report, report_id)
    if existing.request_digest != digest or existing.response is None:
        raise AlreadyExists("this client_report_id was already used for a different report")
    return "duplicate", _as_notices(existing.response)


# What the patient's app shows when the block is full (ReportCapReached): the report was
# not saved, so what to do now, as urgent as the report it refused.
_NOT_SAVED = (
    "This report was not saved and your care team has not been told: this block already "
    "holds as many reports as it can."
)
_CAP_WORDS: dict[GuidanceLevel, str] = {
    "emergency": f"{_NOT_SAVED} Call emergency services now. Do not wait for the clinic to "
    "call you back. Tell them you had a spinal injection (lumbar sympathetic block).",
    "contact_provider": f"{_NOT_SAVED} Call the clinic now about what you reported, or call "
    "emergency services if it is an emergency.",
    "expected": f"{_NOT_SAVED} Call the clinic to tell them how you are, or call emergency "
    "services if it is an emergency.",
}
_CAP_WORDS["none"] = _CAP_WORDS["expected"]


def red_flag_headroom(cap: int) -> int:
    """Reports that raise an alert are stored past the cap, up to a tenth more: a full block
    (an app gone wrong, most likely) must not keep a red flag from the clinic, and a flood of
    them still stops somewhere."""
    return max(1, cap // 10)


def _check_room(stored: int, cap: int, raises_alert: bool, level: GuidanceLevel) -> None:
    room = cap + red_flag_headroom(cap) if raises_alert else cap
    if stored >= room:
        raise ReportCapReached(_CAP_WORDS[level])


async def store_report(
    session: AsyncSession,
    services: Services,
    caller: Principal,
    procedure: ProcedureRef,
    body: ReportIn,
) -> tuple[Submission, ResultJson]:
    """Judges and stores the report once, inside the caller's transaction, with the alerts it
    raises: report, alerts and check-in commit together or not at all."""
    now = services.clock.now()
    _check_times(procedure, body, now)
    digest = request_digest(procedure.id, body)
    cap = services.settings.reports_per_block_cap
    earlier, same_key, later, stored = await neighbours(
        session, procedure, body.recorded_at, body.client_report_id, cap + red_flag_headroom(cap)
    )
    if same_key is not None:  # a replay answers as before, even in a full block
        return await _replay(session, same_key, digest)

    temperature, glucose = body.temperature, body.blood_glucose
    rules = rule_set(procedure.rule_set_version)  # the clinic's, as of this transaction
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "clinic_id": procedure.clinic_id,
        "patient_id": procedure.patient_id,
        "procedure_id": procedure.id,
        "client_report_id": body.client_report_id,
        "request_digest": digest,
        "recorded_at": body.recorded_at,
        "received_at": now,
        "pain_score": body.pain_score,
        "relief_percent": body.relief_percent,
        "relief_ended_at": body.relief_ended_at,
        "temperature_value": temperature.value if temperature else None,
        "temperature_unit": temperature.unit if temperature else None,
        "temperature_c": to_celsius(temperature.value, temperature.unit) if temperature else None,
        "blood_glucose_value": glucose.value if glucose else None,
        "blood_glucose_unit": glucose.unit if glucose else None,
        "blood_glucose_mmol": to_mmol_per_l(glucose.value, glucose.unit) if glucose else None,
        "side_effects": [e.model_dump(mode="json") for e in body.side_effects],
        "notes": body.notes,
        "rule_set_version": rules.version,
        "entered_by_staff_id": caller.staff_user_id,
        "response": None,
    }
    facts = facts_of(
        body.recorded_at,
        body.pain_score,
        body.relief_percent,
        values["temperature_c"],
        values["side_effects"],
        values["blood_glucose_mmol"],
    )
    block = block_facts(procedure)
    findings = evaluate(facts, block, earlier, rules)
    guidance = guidance_for(findings, facts, block, rules)
    _check_room(stored, cap, bool(findings), guidance.level)
    alerts = await plan_alerts(
        session,
        clinic_id=procedure.clinic_id,
        patient_id=procedure.patient_id,
        procedure_id=procedure.id,
        report_id=values["id"],
        findings=findings,
        rule_set_version=rules.version,
        now=now,
    )
    result = ReportResult(
        report=report_out(Report(**values)),
        alerts=[AlertNotice.model_validate(a) for a in alerts],
        guidance=guidance,
    )
    # The response is stored with the report, so a replay returns it as sent (_replay).
    values["response"] = result.model_dump(mode="json")
    if not await _claim(session, values, now):
        raise AlreadyExists("this client_report_id was already used for a different report")
    count_on_commit(session, "report_stored")
    await session.flush()  # the alerts, after the report they point at
    if later is not None:
        await rejudge_next_report(session, procedure, block, values["id"], later, now)
    return "created", values["response"]


async def _claim(session: AsyncSession, values: dict[str, Any], now: datetime) -> bool:
    """Stores the report and completes the check-in window it answers, with the request's
    audit event on PostgreSQL: there in one statement (storing_statement says why). False,
    and nothing stored, when another report took its client_report_id meanwhile."""
    connection = await session.connection()
    event = event_for_change(session, now, 201, values["id"])
    if event is not None:
        stored = await connection.execute(storing_statement(), {**values, **event})
        if stored.scalar_one_or_none() is None:
            return False
        staged_with_change(session)
        return True
    if (await connection.execute(claiming_insert(), values)).scalar_one_or_none() is None:
        return False
    procedure_id, report_id = values["procedure_id"], values["id"]
    await complete_checkin_for_report(session, procedure_id, report_id, values["recorded_at"], now)
    return True


async def submit_report(
    services: Services, caller: Principal, procedure_id: uuid.UUID, body: ReportIn
) -> tuple[Submission, ResultJson]:
    async with services.db.write() as session:
        procedure = await load_procedure_ref(session, caller, procedure_id, for_update=True)
        outcome, result = await store_report(session, services, caller, procedure, body)
        # One event per report stored or replayed, committed with it (a batch writes several):
        # a stored report's went with it on PostgreSQL (_claim), and then this adds nothing.
        note_resource(result["report"]["id"])
        await stage(session, services.clock.now(), status=201 if outcome == "created" else 200)
        return outcome, result


async def list_reports(
    services: Services,
    caller: Principal,
    procedure_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> Page[ReportOut]:
    query = select(Report).where(Report.procedure_id == procedure_id)
    if cursor:
        query = query.where(newer_first_after(Report.recorded_at, Report.id, cursor))
    query = query.order_by(Report.recorded_at.desc(), Report.id.desc()).limit(limit + 1)
    async with services.db.read() as session:
        await load_procedure_ref(session, caller, procedure_id)
        rows = list(await session.scalars(query))
    rows, next_cursor = cut_page(rows, limit, lambda r: (r.recorded_at.isoformat(), r.id))
    return Page[ReportOut](items=[report_out(r) for r in rows], next_cursor=next_cursor)
