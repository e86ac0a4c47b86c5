"""Relief per block and across a patient's series of blocks, for clinicians.

A block's summary and chart are cached (app/core/view_cache.py) under the block's revision and
the clinic's rule set version, the one thing they read that is not the block's; a patient's
outcomes and outcomes chart under every block's revision and the same version."""

import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.alerts.models import ACTIVE, Alert
from app.checkins.service import checkins_by_procedure
from app.core.deps import Services
from app.core.pagination import cut_page, decode_number_cursor
from app.core.security import Principal
from app.core.view_cache import View, json_body
from app.outcomes import series_chart
from app.outcomes.block_chart import block_chart as draw_block_chart
from app.outcomes.schemas import (
    ActiveAlert,
    OutcomeRow,
    Outcomes,
    ProcedureSummary,
    ReliefFigures,
)
from app.outcomes.wording import relief_words
from app.procedures.models import Procedure, included_steroid
from app.procedures.service import (
    PatientVersion,
    block_version,
    cached_patient_view,
    load_procedure,
)
from app.reports.models import Report
from app.rules.relief import Relief, ReliefReport, compare, hours_between, relief_summary
from app.rules.ruleset import RuleSet, rule_set


async def _reliefs(
    session: AsyncSession,
    procedures: Sequence[Procedure],
    rules: RuleSet,
    effects: Counter[str] | None = None,
) -> dict[uuid.UUID, Relief]:
    """Each block's relief figures from one read of its reports, by `rules` (the clinic's:
    they say when a block without relief is negative); with `effects`, that same read also
    counts how many reports named each side effect. The blocks are of one patient."""
    rows: dict[uuid.UUID, list[ReliefReport]] = defaultdict(list)
    if not procedures:
        return {}
    columns = [
        Report.procedure_id,
        Report.recorded_at,
        Report.pain_score,
        Report.relief_percent,
        Report.relief_ended_at,
    ]
    if effects is not None:
        columns.append(Report.side_effects)
    result = await session.execute(
        select(*columns)
        .where(Report.procedure_id.in_([p.id for p in procedures]))
        .order_by(Report.procedure_id, Report.recorded_at, Report.id)
    )
    for procedure_id, recorded_at, pain, relief, ended, *side_effects in result:
        rows[procedure_id].append(ReliefReport(recorded_at, pain, relief, ended))
        if effects is not None:
            effects.update({e["kind"] for e in side_effects[0]})
    return {
        p.id: relief_summary(
            p.performed_at,
            p.baseline_pain,
            rows[p.id],
            negative_after_hours=rules.negative_after_hours(included_steroid(p.steroid)),
        )
        for p in procedures
    }


def _figures(procedure: Procedure, relief: Relief) -> dict[str, object]:
    return {
        "procedure_id": procedure.id,
        "sequence_number": procedure.sequence_number,
        "performed_at": procedure.performed_at,
        **{
            name: getattr(relief, name)
            for name in ReliefFigures.model_fields
            if hasattr(relief, name)
        },
    }


async def _alerts_of(session: AsyncSession, procedure_id: uuid.UUID) -> list[Alert]:
    """Every alert of the block, most severe then oldest first."""
    return list(
        await session.scalars(
            select(Alert)
            .where(Alert.procedure_id == procedure_id)
            .order_by(Alert.severity_rank, Alert.created_at, Alert.id)
        )
    )


async def _summary(
    session: AsyncSession, procedure: Procedure, all_alerts: Sequence[Alert], rules: RuleSet
) -> ProcedureSummary:
    effects: Counter[str] = Counter()
    relief = (await _reliefs(session, [procedure], rules, effects))[procedure.id]
    alerts = [a for a in all_alerts if a.status in ACTIVE]
    return ProcedureSummary.model_validate(
        {
            **_figures(procedure, relief),
            "side_effects": dict(sorted(effects.items())),
            "open_alerts": len(alerts),
            "alerts": [ActiveAlert.model_validate(a, from_attributes=True) for a in alerts],
            # Dicts, validated in the one pass over the whole summary: a model built per
            # point cost 0.3 ms more of a 300-report summary (bench/README.md, "Read path").
            "pain_series": [
                {
                    "at": p.at,
                    "hours_since_block": hours_between(procedure.performed_at, p.at),
                    "pain_score": p.pain_score,
                    "relief_percent": p.relief_percent,
                }
                for p in relief.pain_series
            ],
        }
    )


async def _cached_block_view(
    services: Services,
    caller: Principal,
    procedure_id: uuid.UUID,
    view: str,
    draw: Callable[[AsyncSession, Procedure, RuleSet], Awaitable[bytes]],
) -> bytes:
    """A view of one block, from the cache or drawn by `draw` and kept (view_cache.py)."""
    version = await block_version(services.db, caller, procedure_id)
    key = (view, procedure_id, version.revision, version.rule_set_version)
    if (cached := services.views.get(key, services.clock.now())) is not None:
        return cached.body
    rules = rule_set(version.rule_set_version)  # the key's, whatever the clinic runs by now
    async with services.db.read() as session:
        procedure = await load_procedure(session, caller, procedure_id)
        body = await draw(session, procedure, rules)
    services.views.put(key, View(body))
    return body


async def _summary_json(session: AsyncSession, procedure: Procedure, rules: RuleSet) -> bytes:
    return json_body(
        await _summary(session, procedure, await _alerts_of(session, procedure.id), rules)
    )


async def procedure_summary(
    services: Services, caller: Principal, procedure_id: uuid.UUID
) -> bytes:
    """The summary as the JSON of a ProcedureSummary."""
    return await _cached_block_view(services, caller, procedure_id, "summary", _summary_json)


def _relief_text(procedure: Procedure, relief: Relief) -> str:
    onset, until = relief.relief_onset_at, relief.relief_duration_hours
    if onset is None or until is None:
        return "no relief yet" if relief.response == "indeterminate" else "no relief"
    return relief_words(procedure.performed_at, onset, until, relief.relief_ongoing)


def _sentence(
    procedure: Procedure, relief: Relief, previous: tuple[Procedure, Relief] | None
) -> str:
    """'Relief until 30 h after the block (from 2 h); block 1: no relief.'"""
    mine = _relief_text(procedure, relief)
    if previous is None:
        return f"First block: {mine}."
    before = _relief_text(*previous)
    return f"{mine[0].upper()}{mine[1:]}; block {previous[0].sequence_number}: {before}."


async def _outcome_rows(
    session: AsyncSession, patient_id: uuid.UUID, rules: RuleSet, after: int, limit: int | None
) -> list[OutcomeRow]:
    """Blocks after sequence number `after` (at most `limit` + 1 of them, or all), each
    compared with the block before it."""
    query = (
        select(Procedure)
        .where(Procedure.patient_id == patient_id, Procedure.sequence_number >= after)
        .order_by(Procedure.sequence_number)
    )
    if limit is not None:
        query = query.limit(limit + 2)  # the block before the page, for the comparison
    procedures = list(await session.scalars(query))
    reliefs = await _reliefs(session, procedures, rules)
    rows: list[OutcomeRow] = []
    previous: tuple[Procedure, Relief] | None = None
    for procedure in procedures:
        relief = reliefs[procedure.id]
        if procedure.sequence_number > after:
            row = {
                **_figures(procedure, relief),
                "compared_with_previous": compare(previous[1] if previous else None, relief),
                "comparison": _sentence(procedure, relief, previous),
            }
            rows.append(OutcomeRow.model_validate(row))
        previous = procedure, relief
    return rows


async def patient_outcomes(
    services: Services, caller: Principal, patient_id: uuid.UUID, *, limit: int, cursor: str | None
) -> bytes:
    """One row per block in sequence, each compared with the block before it, as the JSON of
    an Outcomes page."""
    after = decode_number_cursor(cursor) if cursor else 0

    async def draw(session: AsyncSession, version: PatientVersion) -> View:
        rules = rule_set(version.rule_set_version)  # the key's, whatever the clinic runs now
        rows = await _outcome_rows(session, patient_id, rules, after, limit)
        page, next_cursor = cut_page(rows, limit, lambda r: (r.sequence_number,))
        return View(json_body(Outcomes(items=page, next_cursor=next_cursor)))

    return await cached_patient_view(services, caller, patient_id, ("outcomes", after, limit), draw)


async def _alerted_at(session: AsyncSession, alerts: Sequence[Alert]) -> set[datetime]:
    """When the reports that raised these alerts were recorded: a thinned chart keeps them."""
    report_ids = {a.report_id for a in alerts if a.report_id is not None}
    if not report_ids:
        return set()
    return set(await session.scalars(select(Report.recorded_at).where(Report.id.in_(report_ids))))


async def block_chart(services: Services, caller: Principal, procedure_id: uuid.UUID) -> bytes:
    """The chart as SVG."""
    max_points = services.settings.chart_max_points

    async def draw(session: AsyncSession, procedure: Procedure, rules: RuleSet) -> bytes:
        alerts = await _alerts_of(session, procedure.id)
        summary = await _summary(session, procedure, alerts, rules)
        checkins = (await checkins_by_procedure(session, [procedure.id]))[procedure.id]
        thinned = summary.report_count > max_points  # only then does a report's alert matter
        alerted_at = await _alerted_at(session, alerts) if thinned else set()
        return draw_block_chart(
            procedure, summary, checkins, alerts, max_points=max_points, alerted_at=alerted_at
        ).encode()

    return await _cached_block_view(services, caller, procedure_id, "chart", draw)


async def outcomes_chart(services: Services, caller: Principal, patient_id: uuid.UUID) -> bytes:
    """Every block of the patient as SVG: a chart has no pages."""

    async def draw(session: AsyncSession, version: PatientVersion) -> View:
        rules = rule_set(version.rule_set_version)
        rows = await _outcome_rows(session, patient_id, rules, 0, None)
        return View(series_chart.outcomes_chart(rows).encode())

    return await cached_patient_view(services, caller, patient_id, ("outcomes.svg",), draw)
