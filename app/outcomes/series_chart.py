"""The series chart: per block, until how many hours after it relief lasted, so a clinician
sees at a glance whether repeating the block is helping. Same conventions as chart_style.py
(print-safe, deterministic)."""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from app.outcomes.chart_style import COMPARISON_WORDS, HATCHED, RELIEF, RELIEF_FILL, WIDTH
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
    legend,
    mark,
    polyline,
    rect,
    shape,
    stroke,
    text,
    text_width,
    vline,
)
from app.outcomes.wording import from_words, relief_words, until_words
from app.rules.relief import RELIEF_THRESHOLD


def _duration_axis(longest: float, height: float, headroom: float) -> tuple[float, float]:
    """(end, step) of the axis of hours after the block, at most 6 round steps, leaving
    `headroom` pixels above the longest bar for its labels."""
    needed = max(24.0, longest * height / (height - headroom))
    for step in (4, 6, 12, 24, 48, 72, 96, 168, 336, 720, 1440, 2160, 4320, 8760):
        if needed / step <= 6:
            return float(math.ceil(needed / step) * step), float(step)
    years = float(math.ceil(needed / 6 / 8760) * 8760)
    return float(math.ceil(needed / years) * years), years


@dataclass(frozen=True)
class _BarWords:
    until: str  # above the bar: "until 30 h", "ongoing at 30 h" or "no relief"
    since: str  # the line below: "from 20 h" (the onset), or "" without relief
    peak: str
    response: str
    relief: str  # the whole phrase, for the <title> and <desc>

    @property
    def lines(self) -> list[str]:
        """Above the bar, top to bottom."""
        return [w for w in (self.until, self.since, self.peak, self.response) if w]


def _bar_words(row: OutcomeRow) -> _BarWords:
    peak = "no reports" if row.peak_relief_percent is None else f"peak {row.peak_relief_percent} %"
    hours, onset = row.relief_duration_hours, row.relief_onset_at
    if hours is None or onset is None:
        return _BarWords("no relief", "", peak, row.response, "no relief")
    return _BarWords(
        until_words(hours, row.relief_ongoing),
        from_words(row.performed_at, onset),
        peak,
        row.response,
        relief_words(row.performed_at, onset, hours, row.relief_ongoing),
    )


def outcomes_chart(rows: Sequence[OutcomeRow]) -> str:
    """One bar per block in sequence: until how many hours after the block relief lasted, and
    from when, its peak relief and response above it, and below it how it compares with the
    block before."""
    heading = "Relief after each block in the series"
    left, top, height = 90.0, 124.0, 300.0
    width = max(WIDTH, left + 140 * len(rows) + 40)
    right, bottom = width - 40, top + height
    explained = (
        f"Bar height: hours from the block until relief (≥ {RELIEF_THRESHOLD} %) ended, or "
        "until the latest report while it goes on.",
        "Above each bar: relief until and from (hours after the block), peak relief, response.",
    )
    body = [text(left, 26, heading, BOLD, font_size=17)]
    if not rows:
        empty = "No blocks yet"
        body.append(text(width / 2, 90, empty, MIDDLE, NOTE, font_size=18, class_="empty"))
        return document(width, 130, heading, f"{empty}.", "".join(body))
    body += [text(left, 46 + 18 * n, line, NOTE) for n, line in enumerate(explained)]

    end, step = _duration_axis(max(r.relief_duration_hours or 0.0 for r in rows), height, 76)

    def y_of(hours: float) -> float:
        return bottom - min(hours, end) / end * height

    for tick in range(int(end / step) + 1):
        y = y_of(tick * step)
        body.append(hline(left, right, y, stroke=GRID))
        body.append(text(left - 8, y + 4, f"{tick * step:g}", END))
    body.append(vline(left, top, bottom, stroke=INK) + hline(left, right, bottom, stroke=INK))
    mid = top + height / 2
    axis_title = "Relief until (hours after the block)"
    body.append(text(30, mid, axis_title, MIDDLE, BOLD, transform=f"rotate(-90 30 {mid:g})"))
    slot = (right - left) / len(rows)
    bar = min(70.0, slot * 0.5)
    sentences = []
    for index, row in enumerate(rows):
        centre = left + slot * (index + 0.5)
        words = _bar_words(row)
        bar_top = y_of(row.relief_duration_hours or 0.0)
        body.append(_bar(row, words, centre - bar / 2, bar, bar_top, bottom))
        label_y = bar_top - (18 if row.relief_ongoing else 6)
        lines = words.lines
        for n, line in enumerate(lines):  # the top line in bold, the last just above the bar
            y = label_y - 15 * (len(lines) - 1 - n)
            fit = 12 * (slot - 8) / text_width(line)  # smaller rather than into the next slot
            size = fit if fit < 12 else None
            body.append(text(centre, y, line, MIDDLE, BOLD if n == 0 else NOTE, font_size=size))
        body.append(text(centre, bottom + 18, f"Block {row.sequence_number}", MIDDLE, BOLD))
        body.append(text(centre, bottom + 33, f"{row.performed_at:%Y-%m-%d}", MIDDLE, NOTE))
        word = COMPARISON_WORDS.get(row.compared_with_previous, row.compared_with_previous)
        if index and word:
            style: Style = {"font_style": "italic", "class_": "comparison"}
            body.append(text(centre, bottom + 50, word, MIDDLE, BOLD, style))
        sentences.append(
            f"Block {row.sequence_number}: {words.relief}, {words.peak}, {words.response} response"
        )
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
    bar_words: _BarWords,
    x: float,
    width: float,
    top: float,
    bottom: float,
) -> str:
    """Ended: a filled bar. Ongoing: hatched, open at the top, with an arrow up. No relief:
    a flat bar at zero."""
    words = f"Block {row.sequence_number}: {bar_words.relief}; {bar_words.peak}; "
    words += f"{bar_words.response} response"
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
