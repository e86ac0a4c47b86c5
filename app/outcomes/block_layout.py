"""Where things lie on a block chart: the square-root time axis of hours since the block and
the bands of the chart from top to bottom (alerts, relief, the plot, check-ins, legend)."""

import math
from dataclasses import dataclass
from datetime import datetime

from app.outcomes.svg import hours_label
from app.rules.facts import hours_since_block
from app.rules.relief import hours_between

# Hours worth a tick on the square-root time axis: the first hours, then days.
HOUR_TICKS = (0, 1, 2, 4, 8, 12, 24, 48, 72, 96, 120, 168, 240, 336, 504, 720, 1080, 1440, 2160)


def hours_after(start: datetime, end: datetime) -> float:
    return max(0.0, hours_since_block(start, end))


def at_label(start: datetime, end: datetime) -> str:
    """The hours a label shows: one decimal, rounded as the API rounds them."""
    return hours_label(hours_between(start, end))


@dataclass(frozen=True)
class TimeAxis:
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
class BlockLayout:
    """Where each band of the block chart lies, top to bottom."""

    axis: TimeAxis
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
