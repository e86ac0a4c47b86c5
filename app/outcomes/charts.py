"""Server-rendered SVG charts (no JavaScript), readable when printed in black and white:
every series and mark differs by shape or line style as well as colour, and says in words
what it is (axis titles, a legend, labels, and a <title> per mark for hover and screen readers).

Each data mark carries a class a test (or a stylesheet) can find it by, and data-at, its time.
Output is deterministic: nothing in it but the data given."""

import math
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from app.alerts.models import Alert
from app.checkins.models import Checkin
from app.outcomes.schemas import PainPointOut, ProcedureSummary
from app.outcomes.svg import (
    BOLD,
    END,
    GRID,
    HALO,
    HATCH,
    INK,
    MIDDLE,
    MUTED,
    NONE,
    NOTE,
    WHITE,
    Style,
    attrs,
    document,
    el,
    hline,
    hours_label,
    iso,
    legend,
    mark,
    num,
    polyline,
    rect,
    shape,
    square,
    stroke,
    text,
    text_width,
    title,
    vline,
)
from app.outcomes.thinning import crossings, thin
from app.outcomes.wording import relief_words
from app.procedures.models import Procedure
from app.rules.facts import hours_since_block
from app.rules.relief import RELIEF_THRESHOLD, hours_between

PAIN = "#1a237e"  # navy: solid line, filled circles
RELIEF = "#1b5e20"  # dark green: dashed line, open squares
RELIEF_FILL = "#a5d6a7"
HATCHED = f"url(#{HATCH})"
PAIN_LINE = stroke(PAIN, 2)
RELIEF_LINE = stroke(RELIEF, 2, "7 4")
BASELINE_LINE = stroke(MUTED, 1.5)
THRESHOLD_LINE = stroke(RELIEF, 1.2, "10 3 2 3")
SEVERITY_STYLE = {  # shape, letter, colour; most severe first; only emergency is filled
    "emergency": ("triangle", "E", "#b71c1c"),
    "urgent": ("diamond", "U", "#bf360c"),
    "routine": ("circle", "R", "#37474f"),
}
CHECKIN_STYLE = {
    "completed": "circle",
    "missed": "cross",
    "skipped": "diamond",
    "pending": "square",
}
COMPARISON_WORDS = {"no_relief": "no relief", "too_early": "too early", "first": ""}
# Hours worth a tick on the square-root time axis: the first hours, then days.
HOUR_TICKS = (0, 1, 2, 4, 8, 12, 24, 48, 72, 96, 120, 168, 240, 336, 504, 720, 1080, 1440, 2160)
WIDTH = 1000.0


def _hours(start: datetime, end: datetime) -> float:
    return max(0.0, hours_since_block(start, end))


def _at(start: datetime, end: datetime) -> str:
    """The hours a label shows: one decimal, rounded as the API rounds them."""
    return hours_label(hours_between(start, end))


def _counted(counts: Counter[str], order: Sequence[str]) -> str:
    return ", ".join(f"{counts[k]} {k}" for k in order if counts[k]) or "none"


@dataclass(frozen=True)
class _TimeAxis:
    """Hours since the block on a square-root scale: the check-ins run from 1 hour to 14
    days, and a linear axis would crowd the first day, when most reports come, into a sliver."""

    left: float
    right: float
    end: float  # hours

    def x(self, hours: float) -> float:
        share = math.sqrt(min(max(hours, 0.0), self.end) / self.end)
        return self.left + (self.right - self.left) * share

    def ticks(self, min_gap: float = 36) -> list[float]:
        kept: list[float] = [0]
        for hours in HOUR_TICKS[1:]:
            if hours >= self.end:
                break
            if min(self.x(hours) - self.x(kept[-1]), self.right - self.x(hours)) >= min_gap:
                kept.append(hours)
        return [*kept, self.end]

    @staticmethod
    def ending_at(latest: float) -> float:
        """A round tick up to 48 h; after that the next whole day."""
        if latest <= 48:
            return float(next(h for h in HOUR_TICKS if h >= max(24.0, latest)))
        return float(math.ceil(latest / 24) * 24)


@dataclass(frozen=True)
class _Layout:
    """Where each band of the block chart lies, top to bottom."""

    axis: _TimeAxis
    alert_rows: int
    alerts: float = 84  # top of the alert band; 24 px per row of alerts
    plot_height: float = 300

    @property
    def relief(self) -> float:
        return self.alerts + self.alert_rows * 24 + 6

    @property
    def top(self) -> float:
        return self.relief + 30

    @property
    def bottom(self) -> float:
        return self.top + self.plot_height

    @property
    def checkins(self) -> float:
        return self.bottom + 20

    @property
    def baseline(self) -> float:  # the time axis line, under the check-ins
        return self.bottom + 36

    @property
    def legend(self) -> float:
        return self.baseline + 82

    def y_pain(self, pain: float) -> float:
        return self.bottom - pain / 10 * self.plot_height

    def y_relief(self, percent: float) -> float:
        return self.bottom - percent / 100 * self.plot_height


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
        + [_hours(performed, c.due_at) for c in checkins]
        + [_hours(performed, a.created_at) for a in alerts]
        + [_hours(performed, summary.relief_ended_at or performed)],
    )
    axis = _TimeAxis(110, WIDTH - 80, _TimeAxis.ending_at(latest))
    rows: list[float] = []  # alerts too close to the one before go to a row below it
    placed: list[tuple[Alert, float, int]] = []
    for alert in alerts:
        x = axis.x(_hours(performed, alert.created_at))
        row = next((i for i, last in enumerate(rows) if x - last >= 22), len(rows))
        rows[row : row + 1] = [x]
        placed.append((alert, x, row))
    lay = _Layout(axis, max(1, len(rows)))
    points = _drawn(summary.pain_series, axis, max_points, alerted_at)

    heading = f"Block {procedure.sequence_number}: pain and relief by hours since the block"
    where = f"{procedure.side} {', '.join(procedure.levels)}"
    performed_words = f"Performed {performed:%Y-%m-%d %H:%M} UTC, {where}."
    body = [
        text(axis.left, 26, heading, BOLD, font_size=17),
        text(axis.left, 46, f"{performed_words} Baseline pain {summary.baseline_pain}/10.", NOTE),
        text(axis.left, 64, _relief_facts(summary), NOTE),
        _frame(lay, summary.baseline_pain),
        _relief_period(summary, lay, performed),
        _reports(points, lay),
        _reference_labels(summary.baseline_pain, points, lay),
    ]
    thinned = len(points) < len(summary.pain_series)
    if thinned:  # said on the page too, so a printout does not pass for every report
        drawn = f"{len(points)} of {len(summary.pain_series)} reports drawn"
        body.append(text(WIDTH - 20, 26, drawn, END, NOTE, class_="thinned"))
    for checkin in checkins:  # the window as a faint line, the due time as the mark
        x = axis.x(_hours(performed, checkin.due_at))
        closes = axis.x(_hours(performed, checkin.closes_at))
        body.append(hline(x, closes, lay.checkins, **stroke(MUTED, 3), stroke_opacity=0.35))
        words = f"Check-in due at {_at(performed, checkin.due_at)}: {checkin.status}"
        classes = f"checkin checkin-{checkin.status}"
        body.append(
            mark(classes, checkin.due_at, words, _checkin_mark(checkin.status, x, lay.checkins))
        )
    for alert, x, row in placed:
        severity, when = alert.severity, _at(performed, alert.created_at)
        words = f"{severity.capitalize()} alert at {when}: {alert.title} ({alert.status})"
        classes = f"alert alert-{severity} alert-status-{alert.status}"
        symbol = _alert_mark(severity, x, lay.alerts + row * 24 + 10)
        body.append(mark(classes, alert.created_at, words, symbol))
    if not alerts:
        body.append(text(axis.left + 4, lay.alerts + 16, "none", NONE))
    if not checkins:
        body.append(text(axis.left + 4, lay.checkins + 4, "none scheduled", NONE))
    body.append(_block_legend(lay))
    description = _block_description(summary, checkins, alerts, len(points))
    return document(WIDTH, lay.legend + 66, heading, description, "".join(body))


def _frame(lay: _Layout, baseline_pain: int) -> str:
    """Grid, axes, band names, and the two reference lines: baseline pain and 50 % relief."""
    axis, base = lay.axis, lay.baseline
    parts = []
    for pain in range(0, 11, 2):
        y = lay.y_pain(pain)
        parts.append(hline(axis.left, axis.right, y, stroke=GRID))
        parts.append(text(axis.left - 8, y + 4, str(pain), END))
        parts.append(text(axis.right + 8, y + 4, f"{pain * 10} %"))
    for hours in axis.ticks():
        x = axis.x(hours)
        parts.append(vline(x, lay.top, base, stroke=GRID) + vline(x, base, base + 5, stroke=INK))
        parts.append(text(x, base + 18, f"{hours:g}", MIDDLE))
        if hours >= 24:
            parts.append(text(x, base + 31, f"{hours / 24:g} d", MIDDLE, NOTE, font_size=10))
    parts.append(
        rect(axis.left, lay.top, axis.right - axis.left, lay.plot_height, fill="none", stroke=INK)
    )
    parts.append(hline(axis.left, axis.right, base, stroke=INK))
    time_title = "Hours since the block (days below; square-root scale)"
    parts.append(text((axis.left + axis.right) / 2, base + 50, time_title, MIDDLE))
    mid, rx = lay.top + lay.plot_height / 2, WIDTH - 18
    turn_left, turn_right = f"rotate(-90 40 {mid:g})", f"rotate(90 {rx:g} {mid:g})"
    parts.append(text(40, mid, "Pain (0-10)", MIDDLE, BOLD, fill=PAIN, transform=turn_left))
    parts.append(text(rx, mid, "Relief (%)", MIDDLE, BOLD, fill=RELIEF, transform=turn_right))
    for label, y in (
        ("Alerts", lay.alerts + lay.alert_rows * 12 + 4),
        (f"Relief ≥ {RELIEF_THRESHOLD} %", lay.relief + 14),
        ("Check-ins", lay.checkins + 4),
    ):
        parts.append(text(axis.left - 8, y, label, END, BOLD))
    parts.append(hline(axis.left, axis.right, lay.y_pain(baseline_pain), **BASELINE_LINE))
    parts.append(hline(axis.left, axis.right, lay.y_relief(RELIEF_THRESHOLD), **THRESHOLD_LINE))
    return "".join(parts)


def _reference_labels(baseline_pain: int, points: Sequence[PainPointOut], lay: _Layout) -> str:
    """Names of the baseline and 50 % lines, at an end of the line (or along it) and on the
    side of it where no report's mark lies, on a white halo so they read over a line too."""
    left, right = lay.axis.left + 6, lay.axis.right - 6
    marks = [
        (lay.axis.x(p.hours_since_block), y)
        for p in points
        for y in (lay.y_pain(p.pain_score), lay.y_relief(p.relief_percent))
    ]
    taken: list[tuple[float, float, float, float]] = []
    parts = []
    for words, line_y, colour in (
        (f"{RELIEF_THRESHOLD} % relief", lay.y_relief(RELIEF_THRESHOLD), RELIEF),
        (f"baseline {baseline_pain}/10", lay.y_pain(baseline_pain), MUTED),
    ):
        width = text_width(words)
        xs = [right - width, left] + [left + (right - width - left) * k / 4 for k in (2, 3, 1)]
        sides = (line_y - 5, line_y + 15)
        if line_y - 18 < lay.top:  # no room above the top of the plot
            sides = sides[::-1]
        spots = [(x, y) for y in sides for x in xs if y <= lay.bottom - 4]
        for x, y in spots:
            box = (x - 7, y - 18, x + width + 7, y + 8)
            clear = not any(box[0] <= mx <= box[2] and box[1] <= my <= box[3] for mx, my in marks)
            if clear and not any(_overlap(box, other) for other in taken):
                break
        else:
            x, y = spots[0]
        taken.append((x - 7, y - 18, x + width + 7, y + 8))
        parts.append(text(x, y, words, BOLD, HALO, fill=colour))
    return "".join(parts)


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _drawn(
    series: Sequence[PainPointOut],
    axis: _TimeAxis,
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


def _reports(series: Sequence[PainPointOut], lay: _Layout) -> str:
    """Each report's pain (filled circle, solid line) and relief (open square, dashed line)."""
    if not series:
        mid = (lay.axis.left + lay.axis.right) / 2
        words = "No reports yet"
        return text(mid, lay.y_pain(3) + 6, words, MIDDLE, NOTE, HALO, font_size=18, class_="empty")
    xs = [lay.axis.x(p.hours_since_block) for p in series]
    pain = [(x, lay.y_pain(p.pain_score)) for x, p in zip(xs, series, strict=True)]
    relief = [(x, lay.y_relief(p.relief_percent)) for x, p in zip(xs, series, strict=True)]
    parts = [polyline(relief, **RELIEF_LINE), polyline(pain, **PAIN_LINE)]
    # Two marks per report, so written out here with their fixed attributes made once: as
    # mark(..., shape(...)) calls they were half of a 300-report chart's CPU. Same markup.
    for point, (x, y) in zip(series, relief, strict=True):  # squares under the circles
        value, at = point.relief_percent, hours_label(point.hours_since_block)
        box = f'<path d="{square(x, y, 10)}"{_RELIEF_SQUARE}/>'
        words = title(f"Relief {value} % at {at}")
        parts.append(f'<g class="relief-point" data-at="{iso(point.at)}" data-value="{value}">')
        parts.append(f"{words}{box}</g>")
    for point, (x, y) in zip(series, pain, strict=True):
        value, at = point.pain_score, hours_label(point.hours_since_block)
        dot = f'<circle cx="{num(x)}" cy="{num(y)}"{_PAIN_DOT}/>'
        words = title(f"Pain {value}/10 at {at}")
        parts.append(f'<g class="pain-point" data-at="{iso(point.at)}" data-value="{value}">')
        parts.append(f"{words}{dot}</g>")
    return "".join(parts)


_RELIEF_SQUARE = attrs({"fill": WHITE, **stroke(RELIEF, 2)})
_PAIN_DOT = attrs({"r": 4.5, "fill": PAIN, "stroke": WHITE})


def _relief_period(summary: ProcedureSummary, lay: _Layout, performed: datetime) -> str:
    """The stretch with relief >= 50 %: a bar in its own band (hatched and open-ended while
    ongoing), dotted lines through the plot at its onset and end, and a label."""
    axis, band, onset = lay.axis, lay.relief, summary.relief_onset_at
    if onset is None:
        words = "none reported" if summary.report_count else "no reports yet"
        return text(axis.left + 4, band + 14, words, NONE)
    ended, ongoing = summary.relief_ended_at, summary.relief_ongoing
    last = max(p.hours_since_block for p in summary.pain_series)
    start_h, end_h = sorted((_hours(performed, onset), _hours(performed, ended) if ended else last))
    x0, x1 = axis.x(start_h), axis.x(end_h)
    fill = HATCHED if ongoing else RELIEF_FILL
    parts = [rect(x0, band + 3, max(x1 - x0, 2.0), 14, fill=fill, **stroke(RELIEF, 1.5))]
    if ongoing:  # an arrowhead: it has not ended
        parts.append(shape("arrow", x1 + 7, band + 10, 18, fill=RELIEF))
    label = f"onset {_at(performed, onset)} → "
    moments = [("relief-onset", "Relief onset", onset)]
    if ended is None:
        label += f"ongoing at {hours_label(summary.relief_duration_hours or last)}"
    else:
        label += f"ended {_at(performed, ended)}"
        moments.append(("relief-end", "Relief ended", ended))
    for name, words, moment in moments:
        x = axis.x(_hours(performed, moment))
        dotted = vline(x, lay.top, lay.bottom, **stroke(RELIEF, 1.2, "2 3"))
        parts.append(mark(name, moment, f"{words} at {_at(performed, moment)}", dotted))
    after, width = x1 + (18 if ongoing else 6), text_width(label)
    style: Style = {"fill": RELIEF, **BOLD}
    if after + width <= WIDTH - 10:
        parts.append(text(after, band + 14, label, style))
    elif x0 - 6 - width >= axis.left:
        parts.append(text(x0 - 6, band + 14, label, style, END))
    else:  # over the bar
        parts.append(text(axis.left + 4, band + 14, label, style, HALO))
    return el("g", *parts, class_="relief-period")


def _checkin_mark(status: str, x: float, y: float) -> str:
    kind = CHECKIN_STYLE.get(status, "square")
    fill = INK if status == "completed" else WHITE
    return shape(kind, x, y, 11, fill=fill, **stroke(INK, 2.5 if kind == "cross" else 1.5))


def _alert_mark(severity: str, x: float, y: float) -> str:
    kind, letter, colour = SEVERITY_STYLE.get(severity, SEVERITY_STYLE["routine"])
    filled = severity == "emergency"
    size, letter_y = (20, y + 6) if kind == "triangle" else (18, y + 4)
    symbol = shape(kind, x, y, size, fill=colour if filled else WHITE, **stroke(colour, 2))
    letter_colour = WHITE if filled else colour
    return symbol + text(x, letter_y, letter, MIDDLE, BOLD, font_size=10, fill=letter_colour)


def _block_legend(lay: _Layout) -> str:
    def line(style: Style) -> str:
        return hline(0, 24, 0, **style)

    def bar(fill: str) -> str:
        return rect(0, -6, 24, 12, fill=fill, stroke=RELIEF)

    dot = el("circle", cx=12, cy=0, r=4.5, fill=PAIN)
    open_square = shape("square", 12, 0, 10, fill=WHITE, **stroke(RELIEF, 2))
    reports = [
        (line(PAIN_LINE) + dot, "pain, 0-10 (left axis)"),
        (line(RELIEF_LINE) + open_square, "relief, % (right axis)"),
        (line(BASELINE_LINE), "baseline pain"),
        (line(THRESHOLD_LINE), f"{RELIEF_THRESHOLD} % relief"),
    ]
    checkins = [(_checkin_mark(status, 12, 0), status) for status in CHECKIN_STYLE]
    alerts = [(_alert_mark(severity, 12, 0), severity) for severity in SEVERITY_STYLE]
    relief = [(bar(RELIEF_FILL), "ended"), (bar(HATCHED), "still ongoing")]
    groups = [("Reports", reports), ("Check-ins", checkins), ("Alerts", alerts)]
    groups.append((f"Relief ≥ {RELIEF_THRESHOLD} %", relief))
    return legend(groups, lay.axis.left, lay.legend, WIDTH - 20)


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
        parts.append(f"Relief onset at {_at(performed, summary.relief_onset_at)}.")
    if summary.relief_ended_at is not None:
        parts.append(f"Relief ended at {_at(performed, summary.relief_ended_at)}.")
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
