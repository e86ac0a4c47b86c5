"""The rule engine: pure functions from facts to findings (no database, no I/O, no clock).

    evaluate(report, procedure, earlier, rules) -> [Finding]      the rules a report fires
    guidance_for(findings, report, procedure, rules) -> Guidance  what the patient sees at once
    no_relief_due(procedure, reports, now, rules) -> Finding|None the clock-driven no_relief rule
    relief_of(report, baseline_pain) -> int                       docs/clinical-rules.md, "Relief"

`rules` is the clinic's rule set (ruleset.rule_set(version)); it is never defaulted, so no
caller can judge with a version by accident.

Hours are always measured from the procedure's performed_at to the report's recorded_at
(never the upload time).
"""

from collections.abc import Sequence
from datetime import datetime

from app.rules.conditions import Context, Hit
from app.rules.explain import capitalized, hours_text, utc_text
from app.rules.facts import (
    Finding,
    ProcedureFacts,
    ReportFacts,
    hours_since_block,
)
from app.rules.guidance import guidance_for
from app.rules.ruleset import RuleSet
from app.rules.vocabulary import FindingSeverity

__all__ = [
    "Finding",
    "FindingSeverity",
    "ProcedureFacts",
    "ReportFacts",
    "evaluate",
    "guidance_for",
    "hours_since_block",
    "missed_checkin_finding",
    "no_relief_due",
    "relief_of",
]


def _line(hit: Hit, hours: float) -> str:
    line = f"{capitalized(hit.phrase)} at {hours_text(hours)} after the block"
    return f"{line}; {hit.note}" if hit.note else line


def _symptoms(hits: Sequence[Hit]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for hit in hits:
        for symptom in hit.symptoms:
            seen.setdefault(symptom, None)
    return tuple(seen)


def evaluate(
    report: ReportFacts, procedure: ProcedureFacts, earlier: Sequence[ReportFacts], rules: RuleSet
) -> list[Finding]:
    """Every rule of `rules` this report fires, most severe first.

    `earlier`: the procedure's other reports. Only those recorded strictly before this one
    count; "the previous report" is the one with the latest recorded_at among them, whatever
    the order they are given in.
    """
    ctx = Context(report, procedure, earlier)
    findings: list[Finding] = []
    present = report.side_effects.keys()
    for rule, condition, needs in rules.report_rules:
        if needs is not None and needs.isdisjoint(present):
            continue  # cannot hold: skipping it keeps a 33-rule set as fast as a 22-rule one
        hits = condition.match(ctx)
        if hits:
            findings.append(
                Finding(
                    rule_id=rule.id,
                    rule_version=rule.version,
                    severity=rule.severity,
                    title=rule.title,
                    explanation=tuple(_line(hit, ctx.hours) for hit in hits),
                    symptoms=_symptoms(hits),
                )
            )
    return findings


def relief_of(report: ReportFacts, baseline_pain: int) -> int:
    """The report's relief in %: relief_percent when given, else derived from the pain score.

    Derived: 100 * (baseline - pain) / baseline rounded half up (62.5 -> 63, as a clinician
    expects; not Python's round-half-to-even), clamped to 0..100; 0 when baseline is 0.
    Computed in integers, so no floating-point error can move a half.
    """
    return relief_from(report.pain_score, report.relief_percent, baseline_pain)


def relief_from(pain_score: int, relief_percent: int | None, baseline_pain: int) -> int:
    """relief_of() for a stored row, without building its ReportFacts (a block's summary
    derives it for every one of its reports)."""
    if relief_percent is not None:
        return relief_percent
    if baseline_pain <= 0:
        return 0
    # floor(100 * (b - p) / b + 1/2) == (200 * (b - p) + b) // (2 * b)
    derived = (200 * (baseline_pain - pain_score) + baseline_pain) // (2 * baseline_pain)
    return max(0, min(100, derived))


def no_relief_due(
    procedure: ProcedureFacts, reports: Sequence[ReportFacts], now: datetime, rules: RuleSet
) -> Finding | None:
    """The no_relief finding when, at `now`, 336 h or more have passed since the block and no
    report of the procedure reached 50 % relief (no reports at all counts as no relief)."""
    rule, by = rules.no_relief_rule()
    hours = hours_since_block(procedure.performed_at, now)
    if hours < by.hours:
        return None
    best: tuple[int, ReportFacts] | None = None
    for report in reports:
        relief = relief_of(report, procedure.baseline_pain)
        if relief >= by.relief_percent:
            return None
        if best is None or (relief, best[1].recorded_at) > (best[0], report.recorded_at):
            best = (relief, report)
    threshold = f"threshold {by.relief_percent} % by {hours_text(by.hours)}"
    lines = [
        f"No report reached {by.relief_percent} % relief at {hours_text(hours)} after the block; {threshold}"
    ]
    if best is None:
        lines.append(f"No reports received in the {hours_text(hours)} since the block")
    else:
        relief, report = best
        at = hours_text(hours_since_block(procedure.performed_at, report.recorded_at))
        lines.append(
            f"Best relief {relief} % (recorded {utc_text(report.recorded_at)}, {at} after the block); "
            f"{len(reports)} report{'' if len(reports) == 1 else 's'} in all"
        )
    return Finding(
        rule_id=rule.id,
        rule_version=rule.version,
        severity=rule.severity,
        title=rule.title,
        explanation=tuple(lines),
        symptoms=("little or no pain relief from the block",),
    )


def missed_checkin_finding(
    procedure: ProcedureFacts, due_at: datetime, closes_at: datetime, rules: RuleSet
) -> Finding:
    """The routine missed_checkin finding for a window that closed without a report."""
    rule = rules.by_id["missed_checkin"]
    due = hours_text(hours_since_block(procedure.performed_at, due_at))
    line = (
        f"Check-in due {utc_text(due_at)} ({due} after the block) closed "
        f"{utc_text(closes_at)} without a report"
    )
    return Finding(
        rule_id=rule.id,
        rule_version=rule.version,
        severity=rule.severity,
        title=rule.title,
        explanation=(line,),
        symptoms=("a missed check-in",),
    )
