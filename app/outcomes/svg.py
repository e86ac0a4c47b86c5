"""A few helpers for writing SVG by hand: escaped text and attributes, marker shapes that
stay distinct in black and white, and the document around a chart. Standard library only."""

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import cache
from xml.sax.saxutils import escape, quoteattr

from app.core.types import rfc3339

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"  # installed fonts only: nothing is fetched
INK = "#212121"
MUTED = "#616161"
GRID = "#e0e0e0"
WHITE = "#ffffff"

# Characters XML 1.0 cannot hold even escaped: the text shows U+FFFD in their place.
REPLACEMENT = "\ufffd"
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

Attr = str | int | float | None
Style = dict[str, Attr]
BOLD: Style = {"font_weight": "bold"}
MIDDLE: Style = {"text_anchor": "middle"}
END: Style = {"text_anchor": "end"}
NOTE: Style = {"fill": MUTED}
NONE: Style = {"fill": MUTED, "font_style": "italic"}
HALO: Style = {"stroke": WHITE, "stroke_width": 3, "paint_order": "stroke"}  # reads over lines


def xml_text(content: str) -> str:
    return escape(_NOT_XML.sub(REPLACEMENT, content))


def num(value: float) -> str:
    """A coordinate: at most one decimal, no trailing zeros (small, deterministic output)."""
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def attrs(attributes: dict[str, Attr]) -> str:
    """`class_` -> class, `data_at` -> data-at, `stroke_width` -> stroke-width; None is left out."""
    parts = []
    for name, value in attributes.items():
        if value is None:
            continue
        if isinstance(value, str):
            text = _quoted(value)
        else:  # a number's digits, sign and point need no escaping
            text = f'"{num(value) if isinstance(value, float) else value}"'
        parts.append(f" {_attribute_name(name)}={text}")
    return "".join(parts)


@cache
def _attribute_name(name: str) -> str:
    return name.rstrip("_").replace("_", "-")


def _quoted(text: str) -> str:
    """quoteattr()'s answer, exactly. Most values (numbers, classes, colours) are plain ASCII
    with nothing to escape; telling them apart first was half a 300-report chart's CPU."""
    if text.isascii() and text.isprintable() and not _MARKUP.intersection(text):
        return f'"{text}"'
    return quoteattr(_NOT_XML.sub(REPLACEMENT, text))


_MARKUP = frozenset('&<>"')


def el(tag: str, *children: str, **attributes: Attr) -> str:
    inner = "".join(children)
    if not inner:
        return f"<{tag}{attrs(attributes)}/>"
    return f"<{tag}{attrs(attributes)}>{inner}</{tag}>"


def stroke(colour: str, width: float = 1, dash: str | None = None) -> Style:
    return {"stroke": colour, "stroke_width": float(width), "stroke_dasharray": dash}


def title(text: str) -> str:
    """A <title> child: the tooltip, and what a screen reader says for the mark."""
    return f"<title>{xml_text(text)}</title>"


def text(x: float, y: float, content: str, *styles: Style, **attributes: Attr) -> str:
    merged: Style = {"x": float(x), "y": float(y)}
    for style in styles:
        merged.update(style)
    return f"<text{attrs({**merged, **attributes})}>{xml_text(content)}</text>"


def rect(
    x: float, y: float, width: float, height: float, *children: str, **attributes: Attr
) -> str:
    box: Style = {"x": float(x), "y": float(y), "width": float(width), "height": float(height)}
    return el("rect", *children, **box, **attributes)


def mark(classes: str, at: datetime, words: str, *children: str, **attributes: Attr) -> str:
    """One data mark: classes to count it by, data-at its time, a <title> saying its value."""
    return el("g", title(words), *children, class_=classes, data_at=iso(at), **attributes)


def text_width(content: str, size: float = 12) -> float:
    """A generous estimate of the width of a label in a sans-serif font, for layout."""
    return len(content) * size * 0.62


def iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return rfc3339(moment)


def hours_label(hours: float) -> str:
    return f"{hours:.1f}".removesuffix(".0") + " h"


def hline(x1: float, x2: float, y: float, **attributes: Attr) -> str:
    return el("line", x1=float(x1), y1=float(y), x2=float(x2), y2=float(y), **attributes)


def vline(x: float, y1: float, y2: float, *children: str, **attributes: Attr) -> str:
    return el("line", *children, x1=float(x), y1=float(y1), x2=float(x), y2=float(y2), **attributes)


def polyline(points: Iterable[tuple[float, float]], **attributes: Attr) -> str:
    coordinates = " ".join(f"{num(x)},{num(y)}" for x, y in points)
    return el("polyline", points=coordinates, fill="none", **attributes)


# Marker shapes, centred on (x, y), `size` across. Each a path, so any can be filled or open.


def _path(commands: Iterable[tuple[str, float, float]]) -> str:
    return " ".join(f"{c}{num(x)} {num(y)}" for c, x, y in commands) + " Z"


def square(x: float, y: float, size: float) -> str:
    h = size / 2
    return _path(
        [("M", x - h, y - h), ("L", x + h, y - h), ("L", x + h, y + h), ("L", x - h, y + h)]
    )


def diamond(x: float, y: float, size: float) -> str:
    h = size / 2
    return _path([("M", x, y - h), ("L", x + h, y), ("L", x, y + h), ("L", x - h, y)])


def triangle(x: float, y: float, size: float) -> str:
    h = size / 2
    return _path([("M", x, y - h), ("L", x + h, y + h * 0.8), ("L", x - h, y + h * 0.8)])


def circle(x: float, y: float, size: float) -> str:
    r = size / 2
    return (
        f"M{num(x - r)} {num(y)} A{num(r)} {num(r)} 0 1 0 {num(x + r)} {num(y)} "
        f"A{num(r)} {num(r)} 0 1 0 {num(x - r)} {num(y)} Z"
    )


def cross(x: float, y: float, size: float) -> str:
    h = size / 2
    return (
        f"M{num(x - h)} {num(y - h)} L{num(x + h)} {num(y + h)} "
        f"M{num(x - h)} {num(y + h)} L{num(x + h)} {num(y - h)}"
    )


def arrow(x: float, y: float, size: float) -> str:
    """Pointing right: something goes on."""
    h = size / 2
    return _path([("M", x - h * 0.5, y - h), ("L", x + h * 0.5, y), ("L", x - h * 0.5, y + h)])


def arrow_up(x: float, y: float, size: float) -> str:
    h = size / 2
    return _path([("M", x - h, y + h * 0.5), ("L", x, y - h * 0.5), ("L", x + h, y + h * 0.5)])


SHAPES = {
    "arrow": arrow,
    "arrow-up": arrow_up,
    "square": square,
    "diamond": diamond,
    "triangle": triangle,
    "circle": circle,
    "cross": cross,
}


def shape(kind: str, x: float, y: float, size: float, *children: str, **attributes: Attr) -> str:
    return el("path", *children, d=SHAPES[kind](x, y, size), **attributes)


def legend(
    groups: Sequence[tuple[str, Sequence[tuple[str, str]]]], x: float, y: float, right: float
) -> str:
    """Groups of (symbol drawn across 0..24 around y=0, label), left to right from x, a new
    line when a group would pass `right`. A line's first heading stands in the margin left
    of x (where the chart's band names are); later ones inline."""
    parts = []
    cursor, line_y = x, y
    for heading, items in groups:
        widths = [30 + text_width(label, 11) + 14 for _, label in items]
        inline = text_width(heading) + 10
        if cursor > x and cursor + inline + sum(widths) > right:
            cursor, line_y = x, line_y + 24
        if cursor == x:
            parts.append(text(x - 8, line_y + 4, heading, END, BOLD))
        else:
            cursor += 16
            parts.append(text(cursor, line_y + 4, heading, BOLD))
            cursor += inline
        for (symbol, label), width in zip(items, widths, strict=True):
            parts.append(el("g", symbol, transform=f"translate({num(cursor)} {num(line_y)})"))
            parts.append(text(cursor + 30, line_y + 4, label, font_size=11))
            cursor += width
    return el("g", *parts, class_="legend")


HATCH = "aftercare-hatch"
DEFS = (
    "<defs>"
    f'<pattern id="{HATCH}" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)">'
    '<rect width="6" height="6" fill="#ffffff"/>'
    '<line x1="0" y1="0" x2="0" y2="6" stroke="#2e7d32" stroke-width="2.5"/>'
    "</pattern>"
    "</defs>"
)


def document(width: float, height: float, heading: str, description: str, body: str) -> str:
    """The whole image: <title> and <desc> first (what assistive technology reads), a white
    page so it prints and converts the same everywhere, then the chart."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {num(width)} {num(height)}" '
        f'width="{num(width)}" height="{num(height)}" role="img" '
        f'aria-labelledby="chart-title chart-desc" font-family={quoteattr(FONT)} '
        f'font-size="12" fill="{INK}">'
        f'<title id="chart-title">{xml_text(heading)}</title>'
        f'<desc id="chart-desc">{xml_text(description)}</desc>'
        f"{DEFS}"
        f'<rect width="{num(width)}" height="{num(height)}" fill="#ffffff"/>'
        f"{body}</svg>"
    )
