"""Relief figures of a block, and how a block compares with the one before
(docs/clinical-rules.md, "Relief"). Pure: no database, clock or I/O."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from app.rules.engine import relief_from
from app.rules.thresholds import NEGATIVE_AFTER_HOURS, RELIEF_PERCENT

RELIEF_THRESHOLD = RELIEF_PERCENT  # "relief" means at least half the pain gone

ReliefResponse = Literal["positive", "negative", "indeterminate"]
Comparison = Literal["first", "longer", "shorter", "same", "no_relief", "too_early"]


@dataclass(frozen=True)
class ReliefReport:
    recorded_at: datetime
    pain_score: int
    relief_percent: int | None
    relief_ended_at: datetime | None


@dataclass(frozen=True)
class PainPoint:
    at: datetime
    pain_score: int
    relief_percent: int  # as given, or derived from the pain score


@dataclass(frozen=True)
class Relief:
    baseline_pain: int
    latest_pain: int | None
    lowest_pain: int | None
    peak_relief_percent: int | None
    relief_onset_at: datetime | None
    relief_ended_at: datetime | None
    relief_duration_hours: float | None
    relief_ongoing: bool
    response: ReliefResponse
    report_count: int
    pain_series: tuple[PainPoint, ...]


_TENTH_HOUR_US = 360_000_000


def hours_between(start: datetime, end: datetime) -> float:
    """Hours to one decimal, rounded half up, away from zero (as a clinician reads 2.25 h:
    2.3). In whole microseconds, so no floating-point error can move a half."""
    us = (end - start) // timedelta(microseconds=1)
    tenths = (2 * abs(us) + _TENTH_HOUR_US) // (2 * _TENTH_HOUR_US)
    return (tenths if us >= 0 else -tenths) / 10


def relief_summary(
    performed_at: datetime,
    baseline_pain: int,
    reports: Sequence[ReliefReport],
    *,
    negative_after_hours: float = NEGATIVE_AFTER_HOURS,
) -> Relief:
    """`reports` in the order they were recorded (recorded_at, then id). Without relief, the
    block is negative once a report at `negative_after_hours` or later exists (the clinic's
    RuleSet.negative_after_hours: a steroid's relief starts later)."""
    series = tuple(
        PainPoint(
            r.recorded_at,
            r.pain_score,
            relief_from(r.pain_score, r.relief_percent, baseline_pain),
        )
        for r in reports
    )
    onset = next((p.at for p in series if p.relief_percent >= RELIEF_THRESHOLD), None)
    # A reported end before the onset belongs to an earlier, sub-50 % spell: counting it would
    # call a block that then worked for days a 1-hour success (a clarification both rule sets share).
    given_ends = [
        r.relief_ended_at
        for r in reports
        if r.relief_ended_at is not None and (onset is None or r.relief_ended_at >= onset)
    ]
    ended: datetime | None = min(given_ends) if given_ends else None
    if ended is None and onset is not None:
        ended = next(
            (p.at for p in series if p.at > onset and p.relief_percent < RELIEF_THRESHOLD), None
        )
    duration = None
    if onset is not None:
        until = ended if ended is not None else series[-1].at
        duration = hours_between(performed_at, until)
    peak = max((p.relief_percent for p in series), default=None)
    return Relief(
        baseline_pain=baseline_pain,
        latest_pain=series[-1].pain_score if series else None,
        lowest_pain=min((p.pain_score for p in series), default=None),
        peak_relief_percent=peak,
        relief_onset_at=onset,
        relief_ended_at=ended,
        relief_duration_hours=duration,
        relief_ongoing=onset is not None and ended is None,
        response=_response(performed_at, peak, series, timedelta(hours=negative_after_hours)),
        report_count=len(series),
        pain_series=series,
    )


def _response(
    performed_at: datetime, peak: int | None, series: Sequence[PainPoint], negative_after: timedelta
) -> ReliefResponse:
    if peak is not None and peak >= RELIEF_THRESHOLD:
        return "positive"
    if any(p.at - performed_at >= negative_after for p in series):
        return "negative"
    return "indeterminate"


def compare(previous: Relief | None, current: Relief) -> Comparison:
    """How this block's relief compares with the previous block's: the question a clinician
    asks before repeating a block."""
    if previous is None:
        return "first"
    if current.relief_onset_at is None:
        # No report late enough yet (24 h; 72 h after a steroid in version 2): too soon to
        # call it a block without relief.
        return "too_early" if current.response == "indeterminate" else "no_relief"
    mine = current.relief_duration_hours or 0.0
    theirs = previous.relief_duration_hours
    if theirs is None or mine > theirs:
        return "longer"  # ongoing relief already past the previous block's counts too
    if current.relief_ongoing:
        return "too_early"  # still going, not yet as long as last time
    return "shorter" if mine < theirs else "same"
