"""What a block chart draws, piece by piece: the frame (grid, axes, reference lines), the
reports' pain and relief, the relief period, the check-in and alert marks, and the legend.
Positions come from block_layout.py, colours and styles from chart_style.py."""

from collections.abc import Sequence
from datetime import datetime

from app.outcomes.block_layout import BlockLayout, at_label, hours_after
from app.outcomes.chart_style import (
    BASELINE_LINE,
    CHECKIN_STYLE,
    HATCHED,
    PAIN,
    PAIN_LINE,
    RELIEF,
    RELIEF_FILL,
    RELIEF_LINE,
    SEVERITY_STYLE,
    THRESHOLD_LINE,
    WIDTH,
)
from app.outcomes.schemas import PainPointOut, ProcedureSummary
from app.outcomes.svg import (
    BOLD,
    END,
    GRID,
    HALO,
    INK,
    MIDDLE,
    MUTED,
    NONE,
    NOTE,
    WHITE,
    Style,
    attrs,
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
from app.rules.relief import RELIEF_THRESHOLD


def frame(lay: BlockLayout, baseline_pain: int) -> str:
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


def reference_labels(baseline_pain: int, points: Sequence[PainPointOut], lay: BlockLayout) -> str:
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


def report_marks(series: Sequence[PainPointOut], lay: BlockLayout) -> str:
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


def relief_period(summary: ProcedureSummary, lay: BlockLayout, performed: datetime) -> str:
    """The stretch with relief >= 50 %: a bar in its own band (hatched and open-ended while
    ongoing), dotted lines through the plot at its onset and end, and a label."""
    axis, band, onset = lay.axis, lay.relief, summary.relief_onset_at
    if onset is None:
        words = "none reported" if summary.report_count else "no reports yet"
        return text(axis.left + 4, band + 14, words, NONE)
    ended, ongoing = summary.relief_ended_at, summary.relief_ongoing
    last = max(p.hours_since_block for p in summary.pain_series)
    start_h, end_h = sorted(
        (hours_after(performed, onset), hours_after(performed, ended) if ended else last)
    )
    x0, x1 = axis.x(start_h), axis.x(end_h)
    fill = HATCHED if ongoing else RELIEF_FILL
    parts = [rect(x0, band + 3, max(x1 - x0, 2.0), 14, fill=fill, **stroke(RELIEF, 1.5))]
    if ongoing:  # an arrowhead: it has not ended
        parts.append(shape("arrow", x1 + 7, band + 10, 18, fill=RELIEF))
    label = f"onset {at_label(performed, onset)} → "
    moments = [("relief-onset", "Relief onset", onset)]
    if ended is None:
        label += f"ongoing at {hours_label(summary.relief_duration_hours or last)}"
    else:
        label += f"ended {at_label(performed, ended)}"
        moments.append(("relief-end", "Relief ended", ended))
    for name, words, moment in moments:
        x = axis.x(hours_after(performed, moment))
        dotted = vline(x, lay.top, lay.bottom, **stroke(RELIEF, 1.2, "2 3"))
        parts.append(mark(name, moment, f"{words} at {at_label(performed, moment)}", dotted))
    after, width = x1 + (18 if ongoing else 6), text_width(label)
    style: Style = {"fill": RELIEF, **BOLD}
    if after + width <= WIDTH - 10:
        parts.append(text(after, band + 14, label, style))
    elif x0 - 6 - width >= axis.left:
        parts.append(text(x0 - 6, band + 14, label, style, END))
    else:  # over the bar
        parts.append(text(axis.left + 4, band + 14, label, style, HALO))
    return el("g", *parts, class_="relief-period")


def checkin_mark(status: str, x: float, y: float) -> str:
    kind = CHECKIN_STYLE.get(status, "square")
    fill = INK if status == "completed" else WHITE
    return shape(kind, x, y, 11, fill=fill, **stroke(INK, 2.5 if kind == "cross" else 1.5))


def alert_mark(severity: str, x: float, y: float) -> str:
    kind, letter, colour = SEVERITY_STYLE.get(severity, SEVERITY_STYLE["routine"])
    filled = severity == "emergency"
    size, letter_y = (20, y + 6) if kind == "triangle" else (18, y + 4)
    symbol = shape(kind, x, y, size, fill=colour if filled else WHITE, **stroke(colour, 2))
    letter_colour = WHITE if filled else colour
    return symbol + text(x, letter_y, letter, MIDDLE, BOLD, font_size=10, fill=letter_colour)


def block_legend(lay: BlockLayout) -> str:
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
    checkins = [(checkin_mark(status, 12, 0), status) for status in CHECKIN_STYLE]
    alerts = [(alert_mark(severity, 12, 0), severity) for severity in SEVERITY_STYLE]
    relief = [(bar(RELIEF_FILL), "ended"), (bar(HATCHED), "still ongoing")]
    groups = [("Reports", reports), ("Check-ins", checkins), ("Alerts", alerts)]
    groups.append((f"Relief ≥ {RELIEF_THRESHOLD} %", relief))
    return legend(groups, lay.axis.left, lay.legend, WIDTH - 20)
