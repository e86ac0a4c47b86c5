"""The dry run for a terminal: plain-text tables, and a progress line on stderr while a long
history is judged (`aftercare rules dry-run`)."""

import sys
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import typer

from app.core.types import rfc3339
from app.rulesets.schemas import GUIDANCE_LEVELS, ChangedReport, DryRunOut

PROGRESS_FROM = 10_000  # reports: below this a run takes about a second, no bar needed


class ProgressBar:
    """typer's (click's) progress bar on stderr, shown once the history turns out long; on a
    stream that is not a terminal click prints the label alone, so logs stay readable."""

    def __init__(self) -> None:
        self._bar: Any = None

    def begin(self, total: int) -> None:
        if total >= PROGRESS_FROM:
            self._bar = typer.progressbar(length=total, label="Judging reports", file=sys.stderr)
            self._bar.__enter__()

    def advance(self, rows: int) -> None:
        if self._bar is not None:
            self._bar.update(rows)

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, error, tb)
            self._bar = None


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], right: int = 0) -> str:
    """Columns padded to their widest cell; the last `right` columns (numbers) right-aligned."""
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    first_right = len(headers) - right
    lines = []
    for row in cells:
        padded = [
            c.rjust(w) if i >= first_right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def _when(result: DryRunOut) -> str:
    since = rfc3339(result.since) if result.since else "the first report"
    until = rfc3339(result.until) if result.until else "the last"
    return f"from {since} up to {until}"


def _rules(ids: Sequence[str]) -> str:
    return ", ".join(ids) or "-"


CHANGED_HEADERS = (
    "recorded_at",
    "report",
    "patient",
    "block",
    "hours",
    "rules now",
    "rules candidate",
    "guidance now",
    "guidance candidate",
)


def _changed_row(c: ChangedReport) -> tuple[object, ...]:
    rules = (_rules(c.rules_now), _rules(c.rules_candidate))
    block = (c.block_sequence_number, f"{c.hours_since_block:.1f}")
    return (
        rfc3339(c.recorded_at),
        c.report_id,
        c.patient_id,
        *block,
        *rules,
        c.guidance_now,
        c.guidance_candidate,
    )


def render(result: DryRunOut) -> str:
    candidate, current = result.rule_set_version, result.current_rule_set_version
    who = f" of patient {result.patient_id}" if result.patient_id else ""
    parts = [
        f"Rule set {candidate} (candidate) against rule set {current} (the clinic's current), "
        f"both replayed over the reports{who} recorded {_when(result)}",
        f"{result.reports_judged} reports judged in {result.blocks} blocks; "
        f"{result.reports_changed} would change.",
        "",
        "Alerts per rule (an alert is one rule in one block)",
        table(
            ["rule", "severity", "added", "removed", "unchanged"],
            [(r.rule_id, r.severity, r.added, r.removed, r.unchanged) for r in result.rules],
            right=3,
        ),
        "",
        f"Guidance per report (rows: rule set {current} now; columns: candidate {candidate})",
        table(
            ["now \\ candidate", *GUIDANCE_LEVELS],
            [
                (now, *(c.reports for c in result.guidance if c.current == now))
                for now in GUIDANCE_LEVELS
            ],
            right=len(GUIDANCE_LEVELS),
        ),
        "",
        f"Changed reports ({len(result.changed_reports.items)} of {result.reports_changed} shown)",
        table(CHANGED_HEADERS, [_changed_row(c) for c in result.changed_reports.items]),
    ]
    return "\n".join(parts)
