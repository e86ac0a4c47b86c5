"""The block chart: pain and relief over the hours since one block, with its check-ins and
alerts, as an SVG document (conventions: chart_style.py). This module gathers what to draw
(the axis's end, the rows of alerts, which reports when there are too many) and the words that
describe it; block_marks.py draws each piece."""

from collections import Counter
from collections.abc import Collection, Sequence
from datetime import datetime

from app.alerts.models import Alert
from app.checkins.models import Checkin
from app.outcomes.block_layout import BlockLayout, TimeAxis, at_label, hours_after
from app.outcomes.block_marks import (
    alert_mark,
    block_legend,
    checkin_mark,
    frame,
    reference_labels,
    relief_period,
    report_marks,
)
from app.outcomes.chart_style import CHECKIN_STYLE, SEVERITY_STYLE, WIDTH
from app.outcomes.schemas import PainPointOut, ProcedureSummary
from app.outcomes.svg import BOLD, END, MUTED, NONE, NOTE, document, hline, mark, stroke, text
from app.outcomes.thinning import crossings, thin
from app.outcomes.wording import relief_words
from app.procedures.models import Procedure
from app.rules.relief import RELIEF_THRESHOLD


def _counted(counts: Counter[str], order: Sequence[str]) -> str:
    return ", ".join(f"{counts[k]} {k}" for k in order if counts[k]) or "none"


def block_chart(
    procedure: Procedure,
    summary: ProcedureSummary,
    checkins: Sequence[Checkin],
    alerts: Sequence[Alert],
    *,
    max_points: int | None = None,
    alerted_at: Collection[datetime] = (),
) -> str:
    """Pain and relief over the hours since one block, with its check-ins and alerts. With
    more than `max_points` reports, only some are drawn (_drawn); `alerted_at`: the
    recorded_at of the reports that raised an alert, which always are."""
    performed = procedure.performed_at
    checkins = sorted(checkins, key=lambda c: (c.due_at, str(c.id)))
    alerts = sorted(alerts, key=lambda a: (a.created_at, a.severity_rank, str(a.id)))
    latest = max(
        [p.hours_since_block for p in summary.pain_series]
        + [hours_after(performed, c.due_at) for c in checkins]
        + [hours_after(performed, a.created_at) for a in alerts]
        + [hours_after(performed, summary.relief_ended_at or performed)],
    )
    axis = TimeAxis(110, WIDTH - 80, TimeAxis.ending_at(latest))
    rows: list[float] = []  # alerts too close to the one before go to a row below it
    placed: list[tuple[Alert, float, int]] = []
    for alert in alerts:
        x = axis.x(hours_after(performed, alert.created_at))
        row = next((i for i, last in enumerate(rows) if x - last >= 22), len(rows))
        rows[row : row + 1] = [x]
        placed.append((alert, x, row))
    lay = BlockLayout(axis, max(1, len(rows)))
    points = _drawn(summary.pain_series, axis, max_points, alerted_at)

    heading = f"Block {procedure.sequence_number}: pain and relief by hours since the block"
    where = f"{procedure.side} {', '.join(procedure.levels)}"
    performed_words = f"Performed {performed:%Y-%m-%d %H:%M} UTC, {where}."
    body = [
        text(axis.left, 26, heading, BOLD, font_size=17),
        text(axis.left, 46, f"{performed_words} Baseline pain {summary.baseline_pain}/10.", NOTE),
        text(axis.left, 64, _relief_facts(summary), NOTE),
        frame(lay, summary.baseline_pain),
        relief_period(summary, lay, performed),
        report_marks(points, lay),
        reference_labels(summary.baseline_pain, points, lay),
    ]
    thinned = len(points) < len(summary.pain_series)
    if thinned:  # said on the page too, so a printout does not pass for every report
        drawn = f"{len(points)} of {len(summary.pain_series)} reports drawn"
        body.append(text(WIDTH - 20, 26, drawn, END, NOTE, class_="thinned"))
    for checkin in checkins:  # the window as a faint line, the due time as the mark
        x = axis.x(hours_after(performed, checkin.due_at))
        closes = axis.x(hours_after(performed, checkin.closes_at))
        body.append(hline(x, closes, lay.checkins, **stroke(MUTED, 3), stroke_opacity=0.35))
        words = f"Check-in due at {at_label(performed, checkin.due_at)}: {checkin.status}"
        classes = f"checkin checkin-{checkin.status}"
        body.append(
            mark(classes, checkin.due_at, words, checkin_mark(checkin.status, x, lay.checkins))
        )
    for alert, x, row in placed:
        severity, when = alert.severity, at_label(performed, alert.created_at)
        words = f"{severity.capitalize()} alert at {when}: {alert.title} ({alert.status})"
        classes = f"alert alert-{severity} alert-status-{alert.status}"
        symbol = alert_mark(severity, x, lay.alerts + row * 24 + 10)
        body.append(mark(classes, alert.created_at, words, symbol))
    if not alerts:
        body.append(text(axis.left + 4, lay.alerts + 16, "none", NONE))
    if not checkins:
        body.append(text(axis.left + 4, lay.checkins + 4, "none scheduled", NONE))
    body.append(block_legend(lay))
    description = _block_description(summary, checkins, alerts, len(points))
    return document(WIDTH, lay.legend + 66, heading, description, "".join(body))


def _drawn(
    series: Sequence[PainPointOut],
    axis: TimeAxis,
    max_points: int | None,
    alerted_at: Collection[datetime],
) -> Sequence[PainPointOut]:
    """The reports to draw: all of them up to `max_points`, else thinned (outcomes/thinning.py)
    where they lie on the time axis, keeping the reports that raised an alert."""
    if max_points is None or len(series) <= max_points:
        return series
    xs = [axis.x(p.hours_since_block) for p in series]
    pain, relief = [p.pain_score for p in series], [p.relief_percent for p in series]
    alerted = {i for i, p in enumerate(series) if p.at in alerted_at}
    return [series[i] for i in thin(xs, (pain, relief), alerted | crossings(relief), max_points)]


def _relief_facts(summary: ProcedureSummary) -> str:
    if summary.report_count == 0:
        return "No reports yet."
    reports = f"{summary.report_count} report{'s' if summary.report_count != 1 else ''}"
    if summary.relief_duration_hours is None or summary.relief_onset_at is None:
        lasted = f"no relief ≥ {RELIEF_THRESHOLD} %"
    else:
        lasted = relief_words(
            summary.performed_at,
            summary.relief_onset_at,
            summary.relief_duration_hours,
            summary.relief_ongoing,
        )
    peak = f"peak relief {summary.peak_relief_percent} %"
    return f"{reports}; {peak}; {lasted}; response {summary.response}."


def _block_description(
    summary: ProcedureSummary, checkins: Sequence[Checkin], alerts: Sequence[Alert], drawn: int
) -> str:
    performed = summary.performed_at
    parts = [
        f"Pain (0 to 10) and relief (percent) reported after block {summary.sequence_number}, "
        f"by hours since the block. Baseline pain {summary.baseline_pain}/10.",
        _relief_facts(summary),
    ]
    if summary.relief_onset_at is not None:
        parts.append(f"Relief onset at {at_label(performed, summary.relief_onset_at)}.")
    if summary.relief_ended_at is not None:
        parts.append(f"Relief ended at {at_label(performed, summary.relief_ended_at)}.")
    statuses = _counted(Counter(c.status for c in checkins), list(CHECKIN_STYLE))
    severities = _counted(Counter(a.severity for a in alerts), list(SEVERITY_STYLE))
    parts.append(f"Check-ins: {statuses}. Alerts: {severities}.")
    if drawn < len(summary.pain_series):
        parts.append(
            f"Too many reports to draw each: {drawn} of {len(summary.pain_series)} are drawn "
            "(the first and last, the highest and lowest pain and relief in each stretch of "
            f"time, both reports around each crossing of {RELIEF_THRESHOLD} % relief, and every "
            "report that raised an alert). Every alert is marked."
        )
    return " ".join(parts)
