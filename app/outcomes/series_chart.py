"""The series chart: relief duration per block, so a clinician sees at a glance whether
repeating the block is helping. Same conventions as charts.py (print-safe, deterministic)."""

import math
from collections.abc import Sequence

from app.outcomes.charts import COMPARISON_WORDS, HATCHED, RELIEF, RELIEF_FILL, WIDTH
from app.outcomes.schemas import OutcomeRow
from app.outcomes.svg import (
    BOLD,
    END,
    GRID,
    INK,
    MIDDLE,
    NOTE,
    Style,
    document,
    hline,
    hours_label,
    legend,
    mark,
    polyline,
    rect,
    shape,
    stroke,
    text,
    vline,
)
from app.rules.relief import RELIEF_THRESHOLD


def _duration_axis(longest: float, height: float, headroom: float) -> tuple[float, float]:
    """(end, step) of the relief-duration axis in hours, at most 6 round steps, leaving
    `headroom` pixels above the longest bar for its labels."""
    needed = max(24.0, longest * height / (height - headroom))
    for step in (4, 6, 12, 24, 48, 72, 96, 168, 336, 720, 1440, 2160, 4320, 8760):
        if needed / step <= 6:
            return float(math.ceil(needed / step) * step), float(step)
    years = float(math.ceil(needed / 6 / 8760) * 8760)
    return float(math.ceil(needed / years) * years), years


def _bar_words(row: OutcomeRow) -> tuple[str, str, str]:
    if row.relief_duration_hours is None:
        lasted = "no relief"
    elif row.relief_ongoing:
        lasted = f"ongoing {hours_label(row.relief_duration_hours)}"
    else:
        lasted = hours_label(row.relief_duration_hours)
    peak = "no reports" if row.peak_relief_percent is None else f"peak {row.peak_relief_percent} %"
    return lasted, peak, row.response


def outcomes_chart(rows: Sequence[OutcomeRow]) -> str:
    """One bar per block in sequence: how long relief lasted (hours from the block), its peak
    relief and response above it, and below it how it compares with the block before."""
    heading = "Relief after each block in the series"
    left, top, height = 90.0, 124.0, 300.0
    width = max(WIDTH, left + 140 * len(rows) + 40)
    right, bottom = width - 40, top + height
    explained = (
        f"Bar height: hours from the block until relief (≥ {RELIEF_THRESHOLD} %) ended, or "
        "until the latest report while it goes on.",
        "Above each bar: relief duration, peak relief, response (positive, negative or "
        "indeterminate).",
    )
    body = [text(left, 26, heading, BOLD, font_size=17)]
    if not rows:
        words = "No blocks yet"
        body.append(text(width / 2, 90, words, MIDDLE, NOTE, font_size=18, class_="empty"))
        return document(width, 130, heading, f"{words}.", "".join(body))
    body += [text(left, 46 + 18 * n, line, NOTE) for n, line in enumerate(explained)]

    end, step = _duration_axis(max(r.relief_duration_hours or 0.0 for r in rows), height, 60)

    def y_of(hours: float) -> float:
        return bottom - min(hours, end) / end * height

    for tick in range(int(end / step) + 1):
        y = y_of(tick * step)
        body.append(hline(left, right, y, stroke=GRID))
        body.append(text(left - 8, y + 4, f"{tick * step:g}", END))
    body.append(vline(left, top, bottom, stroke=INK) + hline(left, right, bottom, stroke=INK))
    mid = top + height / 2
    axis_title = "Relief duration (hours after the block)"
    body.append(text(30, mid, axis_title, MIDDLE, BOLD, transform=f"rotate(-90 30 {mid:g})"))
    slot = (right - left) / len(rows)
    bar = min(70.0, slot * 0.5)
    sentences = []
    for index, row in enumerate(rows):
        centre = left + slot * (index + 0.5)
        lasted, peak, response = bar_words = _bar_words(row)
        body.append(
            _bar(
                row, bar_words, centre - bar / 2, bar, y_of(row.relief_duration_hours or 0), bottom
            )
        )
        label_y = y_of(row.relief_duration_hours or 0.0) - (18 if row.relief_ongoing else 6)
        body.append(text(centre, label_y, response, MIDDLE, NOTE))
        body.append(text(centre, label_y - 15, peak, MIDDLE, NOTE))
        body.append(text(centre, label_y - 30, lasted, MIDDLE, BOLD))
        body.append(text(centre, bottom + 18, f"Block {row.sequence_number}", MIDDLE, BOLD))
        body.append(text(centre, bottom + 33, f"{row.performed_at:%Y-%m-%d}", MIDDLE, NOTE))
        word = COMPARISON_WORDS.get(row.compared_with_previous, row.compared_with_previous)
        if index and word:
            style: Style = {"font_style": "italic", "class_": "comparison"}
            body.append(text(centre, bottom + 50, word, MIDDLE, BOLD, style))
        sentences.append(f"Block {row.sequence_number}: {lasted}, {peak}, {response} response")
    legend_y = bottom + 80
    bars = [
        (rect(0, -7, 24, 14, fill=RELIEF_FILL, stroke=RELIEF), "relief ended"),
        (rect(0, -7, 24, 14, fill=HATCHED, stroke=RELIEF), "relief still ongoing (open-ended)"),
        (rect(0, 4, 24, 3, fill=INK), f"no relief ≥ {RELIEF_THRESHOLD} %"),
    ]
    body.append(legend([("Bars", bars)], left + 40, legend_y, right))
    below = (
        "Under each block after the first: its relief compared with the block before "
        "(longer, shorter, same, no relief, too early to tell)."
    )
    body.append(text(left, legend_y + 28, below, NOTE, font_size=11))
    count = f"{len(rows)} block{'s' if len(rows) != 1 else ''}. "
    description = count + ". ".join(sentences) + "."
    return document(width, legend_y + 44, heading, description, "".join(body))


def _bar(
    row: OutcomeRow,
    bar_words: tuple[str, str, str],
    x: float,
    width: float,
    top: float,
    bottom: float,
) -> str:
    """Ended: a filled bar. Ongoing: hatched, open at the top, with an arrow up. No relief:
    a flat bar at zero."""
    lasted, peak, response = bar_words
    words = f"Block {row.sequence_number}: {lasted}; {peak}; {response} response"
    if row.compared_with_previous != "first":
        words += f". {row.comparison}"
    hours = row.relief_duration_hours
    data: Style = {
        "data_sequence": row.sequence_number,
        "data_hours": "" if hours is None else f"{hours:g}",
    }
    if hours is None:
        symbol = rect(x, bottom - 3, width, 3, fill=INK)
    elif not row.relief_ongoing:
        symbol = rect(x, top, width, bottom - top, fill=RELIEF_FILL, **stroke(RELIEF, 1.5))
    else:
        sides = [(x, top), (x, bottom), (x + width, bottom), (x + width, top)]
        symbol = (
            rect(x, top, width, bottom - top, fill=HATCHED)
            + polyline(sides, **stroke(RELIEF, 1.5))
            + shape("arrow-up", x + width / 2, top - 7, 16, fill=RELIEF)
        )
    return mark("block-bar", row.performed_at, words, symbol, **data)
