"""Which reports a block chart draws when it has more than it can show: thousands of marks a
few pixels apart are megabytes that print as a smear. The time axis is cut into equal
slices, and each slice keeps its highest and lowest pain and relief, so the line's ups and
downs at the chart's resolution stay as they were; every report a clinician must find stays
as well. This is the min-max decimation plotting libraries use, with points that must stay."""

from collections.abc import Collection, Sequence
from itertools import pairwise

from app.rules.relief import RELIEF_THRESHOLD


def crossings(relief: Sequence[int]) -> set[int]:
    """Both reports around each crossing of the 50 % line: the line crosses it where it did."""
    kept: set[int] = set()
    for i, (before, after) in enumerate(pairwise(relief), start=1):
        if (before >= RELIEF_THRESHOLD) != (after >= RELIEF_THRESHOLD):
            kept.update((i - 1, i))
    return kept


def _extremes(shares: Sequence[float], series: Sequence[Sequence[int]], slices: int) -> set[int]:
    """Per slice of the x range: the first report holding each series' highest and lowest."""
    kept: set[int] = set()
    for values in series:
        highest: dict[int, int] = {}
        lowest: dict[int, int] = {}
        for i, (share, value) in enumerate(zip(shares, values, strict=True)):
            at = min(int(share * slices), slices - 1)
            if value > values[highest.setdefault(at, i)]:
                highest[at] = i
            if value < values[lowest.setdefault(at, i)]:
                lowest[at] = i
        kept.update(highest.values(), lowest.values())
    return kept


def thin(
    xs: Sequence[float],
    series: Sequence[Sequence[int]],
    must_keep: Collection[int],
    budget: int,
) -> list[int]:
    """Indices to draw, in order: at most `budget` of them unless `must_keep` with the first,
    the last and the highest and lowest of all is more. `xs` ascending, one per report;
    `series` the values drawn at them (pain, relief)."""
    if len(xs) <= budget:
        return list(range(len(xs)))
    kept = {0, len(xs) - 1, *must_keep}
    left, span = xs[0], (xs[-1] - xs[0]) or 1.0
    shares = [(x - left) / span for x in xs]
    room = budget - len(kept)
    # Each slice adds at most two reports per series, fewer when slices hold one report or
    # the series peak together (relief is often derived from pain): the most slices that fit,
    # of a few tried, ending with as many as always fit.
    for slices in (room, room // 2, room // (2 * len(series))):
        chosen = kept | _extremes(shares, series, max(slices, 1))
        if len(chosen) <= budget:
            break
    return sorted(chosen)
