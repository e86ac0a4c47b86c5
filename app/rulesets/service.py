"""The dry run: a clinic's stored reports judged by a candidate rule set and by its current
one, compared. Reads only; the one row it adds is its own audit event."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import anyio
from sqlalchemy.ext.asyncio import AsyncSession

from app.audit.actions import ACTIONS
from app.audit.record import insert_operator_event
from app.core.audit import note_patients, note_resource
from app.core.db import Database
from app.core.deps import Services
from app.core.domain_errors import NotFound
from app.core.pagination import cut_page, decode_time_id_cursor
from app.core.security import Principal
from app.core.types import Page
from app.patients.service import load_patient
from app.reports.judging import block_facts
from app.rules.ruleset import RuleSet, rule_set
from app.rules.vocabulary import FINDING_SEVERITY_RANK
from app.rulesets import statements
from app.rulesets.replay import BlockInfo, Change, Replay, Tally
from app.rulesets.schemas import (
    GUIDANCE_LEVELS,
    ChangedReport,
    DryRunIn,
    DryRunOut,
    GuidanceShift,
    RuleDelta,
)
from app.rulesets.statements import Scope, StoredBlock
from app.staff.service import clinic_rule_set

BATCH = 2000  # rows per fetch from the server-side cursor, and per hop to a worker thread


class Progress(Protocol):
    def begin(self, total: int) -> None: ...
    def advance(self, rows: int) -> None: ...


async def _blocks(session: AsyncSession, scope: Scope) -> dict[uuid.UUID, BlockInfo]:
    found: dict[uuid.UUID, BlockInfo] = {}
    for row in await session.execute(statements.blocks(scope)):
        stored = StoredBlock(*row)
        found[stored.id] = BlockInfo(
            stored.id, stored.patient_id, stored.sequence_number, block_facts(stored)
        )
    return found


async def replay_clinic(
    session: AsyncSession,
    scope: Scope,
    candidate: RuleSet,
    *,
    after: tuple[datetime, uuid.UUID] | None = None,
    keep: int | None = None,
    progress: Progress | None = None,
) -> tuple[RuleSet, Tally]:
    """The clinic's current rule set and the tally of both over the scope, in one pass; of
    the changed reports after `after`, the tally keeps the `keep` earliest (None: all)."""
    current = await clinic_rule_set(session, scope.clinic_id)
    blocks = await _blocks(session, scope)
    replay = Replay(current, candidate, since=scope.since, after=after, keep=keep)
    if not blocks:
        return current, replay.finish()
    if progress is not None:
        progress.begin(await session.scalar(statements.history_size(scope)) or 0)
    history = statements.history(scope).execution_options(yield_per=BATCH)
    async for rows in (await session.stream(history)).partitions():
        # Judging is pure CPU (some 60 µs a report for both sets, bench/README.md): in a
        # worker thread, so the event loop keeps serving other requests during a long replay.
        await anyio.to_thread.run_sync(replay.feed, rows, blocks)
        if progress is not None:
            progress.advance(len(rows))
    return current, replay.finish()


def _rule_deltas(tally: Tally, current: RuleSet, candidate: RuleSet) -> list[RuleDelta]:
    """Most severe first; within a severity the candidate's table order, then rules only the
    current set has (a rule's severity as the candidate has it)."""
    rules = {**current.by_id, **candidate.by_id}
    order = [*candidate.by_id, *(i for i in current.by_id if i not in candidate.by_id)]
    fired = sorted(
        (i for i in order if i in tally.alerts),
        key=lambda i: FINDING_SEVERITY_RANK[rules[i].severity],
    )
    deltas = []
    for rule_id in fired:
        added, removed, unchanged = tally.alerts[rule_id]
        deltas.append(
            RuleDelta(
                rule_id=rule_id,
                severity=rules[rule_id].severity,
                added=added,
                removed=removed,
                unchanged=unchanged,
            )
        )
    return deltas


def _changed(change: Change) -> ChangedReport:
    return ChangedReport(
        report_id=change.report_id,
        patient_id=change.block.patient_id,
        procedure_id=change.block.id,
        block_sequence_number=change.block.sequence_number,
        recorded_at=change.recorded_at,
        hours_since_block=change.hours,
        rules_now=list(change.now.rules),
        rules_candidate=list(change.candidate.rules),
        guidance_now=change.now.level,
        guidance_candidate=change.candidate.level,
    )


def comparison(
    body: DryRunIn, current: RuleSet, candidate: RuleSet, tally: Tally, limit: int | None
) -> DryRunOut:
    """The answer; `limit` None: every changed report after the cursor on one page (the
    tally kept `limit` + 1 of them, or all)."""
    changes: Sequence[Change] = tally.changes()
    if limit is None:
        page, next_cursor = list(changes), None
    else:
        page, next_cursor = cut_page(
            changes, limit, lambda c: (c.recorded_at.isoformat(), c.report_id)
        )
    matrix = [
        GuidanceShift(current=now, candidate=then, reports=tally.matrix[now, then])
        for now in GUIDANCE_LEVELS
        for then in GUIDANCE_LEVELS
    ]
    return DryRunOut(
        rule_set_version=candidate.version,
        current_rule_set_version=current.version,
        since=body.since,
        until=body.until,
        patient_id=body.patient_id,
        reports_judged=tally.reports_judged,
        blocks=tally.blocks,
        reports_changed=tally.reports_changed,
        rules=_rule_deltas(tally, current, candidate),
        guidance=matrix,
        changed_reports=Page[ChangedReport](
            items=[_changed(c) for c in page], next_cursor=next_cursor
        ),
    )


def _scope(clinic_id: uuid.UUID, body: DryRunIn) -> Scope:
    return Scope(clinic_id, body.since, body.until, body.patient_id)


async def dry_run(
    services: Services, caller: Principal, body: DryRunIn, *, limit: int, cursor: str | None
) -> DryRunOut:
    after = decode_time_id_cursor(cursor) if cursor else None
    candidate = rule_set(body.rule_set_version)
    async with services.db.read_transaction() as session:  # replay_clinic streams
        if body.patient_id is not None:
            await load_patient(session, caller, body.patient_id)  # another clinic's: 404
        current, tally = await replay_clinic(
            session, _scope(caller.clinic_id, body), candidate, after=after, keep=limit + 1
        )
    result = comparison(body, current, candidate, tally, limit)
    # The page names these patients' reports; the counts name nobody. The read's event is
    # written by the audit middleware.
    note_patients(*(item.patient_id for item in result.changed_reports.items))
    note_resource(str(candidate.version))
    return result


async def dry_run_for_operator(
    db: Database,
    at: datetime,
    clinic_id: uuid.UUID,
    body: DryRunIn,
    *,
    limit: int | None,
    progress: Progress | None = None,
) -> DryRunOut:
    """The command line's dry run: any clinic, every changed report unless `limit`; its
    operator audit event names the patients whose reports it shows."""
    candidate = rule_set(body.rule_set_version)
    async with db.read_transaction() as session:  # replay_clinic streams
        if body.patient_id is not None and not await _patient_of(session, clinic_id, body):
            raise NotFound("patient")
        keep = None if limit is None else limit + 1
        current, tally = await replay_clinic(
            session, _scope(clinic_id, body), candidate, keep=keep, progress=progress
        )
    result = comparison(body, current, candidate, tally, limit)
    shown = [item.patient_id for item in result.changed_reports.items]
    action = ACTIONS["dry_run_rules"]  # the API's action, by an operator
    async with db.write() as session:
        await insert_operator_event(
            session, action, str(candidate.version), at, clinic_id, patients=shown
        )
    return result


async def _patient_of(session: AsyncSession, clinic_id: uuid.UUID, body: DryRunIn) -> bool:
    found = await session.scalar(statements.patient_in_clinic(clinic_id, body.patient_id))
    return found is not None
