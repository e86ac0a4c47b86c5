"""How the server-rendered SVG charts (no JavaScript) look: readable when printed in black and
white, every series and mark differs by shape or line style as well as colour, and says in
words what it is (axis titles, a legend, labels, and a <title> per mark for hover and screen
readers). The palette, line styles and marker styles here are shared by the block chart
(block_chart.py) and the series chart (series_chart.py).

Each data mark carries a class a test (or a stylesheet) can find it by, and data-at, its time.
Output is deterministic: nothing in it but the data given."""

from app.outcomes.svg import HATCH, MUTED, stroke

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
WIDTH = 1000.0
