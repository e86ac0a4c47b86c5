"""The relief figures of a block and the comparison between blocks (red-flags.md, "Relief"):
pure functions, tables of crafted series, and a few properties. No database."""

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from math import floor
from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.rules.relief import Relief, ReliefReport, compare, hours_between, relief_summary

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 21, 11, 30, tzinfo=UTC)  # performed_at


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def r(
    hours: float, pain: int = 5, relief: int | None = None, ended: float | None = None
) -> ReliefReport:
    return ReliefReport(at(hours), pain, relief, at(ended) if ended is not None else None)


def summary(*reports: ReliefReport, baseline: int = 8) -> Relief:
    return relief_summary(T0, baseline, reports)


# --- relief of one report ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("baseline", "pain", "given", "expected"),
    [
        (8, 3, None, 63),  # 62.5 rounds half up, not to even (62)
        (8, 5, None, 38),  # 37.5 -> 38
        (8, 4, None, 50),
        (7, 3, None, 57),  # 57.14
        (7, 4, None, 43),  # 42.86
        (3, 1, None, 67),  # 66.67
        (10, 0, None, 100),
        (8, 8, None, 0),
        (5, 8, None, 0),  # pain above baseline: clamped to 0, never negative
        (0, 0, None, 0),  # baseline 0: nothing to relieve
        (0, 4, None, 0),
        (8, 8, 70, 70),  # a given relief_percent wins over the pain score
        (8, 0, 10, 10),
        (0, 0, 80, 80),
        (8, 3, 0, 0),
    ],
)
def test_relief_is_given_or_derived_half_up_and_clamped(
    baseline: int, pain: int, given: int | None, expected: int
) -> None:
    result = summary(r(1, pain, given), baseline=baseline)
    assert result.pain_series[0].relief_percent == expected
    assert result.peak_relief_percent == expected
    assert result.baseline_pain == baseline


# --- onset, end, duration, ongoing ---------------------------------------------------------

NO_REPORTS = ()


class Spell(NamedTuple):
    """What a block's reports say of its relief: hours after the block, or None."""

    onset: float | None
    ended: float | None
    duration: float | None
    ongoing: bool


CASES = {
    "no reports": (NO_REPORTS, Spell(None, None, None, False)),
    "exactly 50 is onset": (
        (r(1, relief=30), r(2, relief=50), r(3, relief=80)),
        Spell(2, None, 3.0, True),
    ),
    "49 is not": ((r(1, relief=49), r(30, relief=49)), Spell(None, None, None, False)),
    "derived 50 is onset": ((r(1, pain=6), r(4, pain=4)), Spell(4, None, 4.0, True)),
    "end by a later report below 50": (
        (r(1, relief=60), r(5, relief=70), r(30, relief=40), r(40, relief=80)),
        Spell(1, 30, 30.0, False),
    ),
    "a report at onset time is not after it": (
        (r(2, relief=60), r(2, relief=10)),
        Spell(2, None, 2.0, True),
    ),
    "end by relief_ended_at": (
        (r(1, relief=60), r(30, relief=60, ended=20)),
        Spell(1, 20, 20.0, False),
    ),
    "earliest relief_ended_at of several, over a report below 50": (
        (r(2, relief=70), r(10, relief=40), r(30, relief=40, ended=26), r(48, relief=20, ended=20)),
        Spell(2, 20, 20.0, False),
    ),
    "relief_ended_at before a derived end": (
        (r(1, relief=60), r(5, relief=60, ended=3), r(9, relief=10)),
        Spell(1, 3, 3.0, False),
    ),
    "a reported end before the onset is an earlier spell, not the end": (
        (r(1, relief=20, ended=0.5), r(10, relief=80), r(40, relief=90)),
        Spell(10, None, 40.0, True),
    ),
    "relief_ended_at without onset": (
        (r(1, relief=20), r(6, relief=10, ended=4)),
        Spell(None, 4, None, False),
    ),
    "ongoing: to the latest report": (
        (r(0.5, relief=20), r(3, relief=60), r(50, relief=90)),
        Spell(3, None, 50.0, True),
    ),
    "duration rounds half up (2 h 15 min)": (
        (r(0.25, relief=60), r(2.25, relief=30)),
        Spell(0.25, 2.25, 2.3, False),
    ),
}


@pytest.mark.parametrize(("reports", "expected"), CASES.values(), ids=CASES.keys())
def test_onset_end_duration_and_ongoing(reports: tuple[ReliefReport, ...], expected: Spell) -> None:
    onset, ended, duration, ongoing = expected
    result = summary(*reports)
    assert result.relief_onset_at == (at(onset) if onset is not None else None)
    assert result.relief_ended_at == (at(ended) if ended is not None else None)
    assert result.relief_duration_hours == duration
    assert result.relief_ongoing is ongoing
    assert result.report_count == len(reports)


def test_pain_figures_follow_the_order_given() -> None:
    result = summary(r(1, pain=6), r(2, pain=2), r(3, pain=4), baseline=8)
    assert (result.latest_pain, result.lowest_pain, result.peak_relief_percent) == (4, 2, 75)
    assert [(p.at, p.pain_score, p.relief_percent) for p in result.pain_series] == [
        (at(1), 6, 25),
        (at(2), 2, 75),
        (at(3), 4, 50),
    ]
    empty = summary()
    assert (empty.latest_pain, empty.lowest_pain, empty.peak_relief_percent) == (None, None, None)
    assert (empty.response, empty.pain_series) == ("indeterminate", ())


# --- response ----------------------------------------------------------------------------

A_DAY = 24.0
JUST_UNDER = 24 - 1 / 3600  # 23:59:59
RESPONSES = {
    "positive at 50": ((r(1, relief=50),), "positive"),
    "positive, then gone": ((r(1, relief=90), r(30, relief=0)), "positive"),
    "negative at exactly 24 h": ((r(2, relief=40), r(A_DAY, relief=49)), "negative"),
    "23:59:59 is too early": ((r(2, relief=40), r(JUST_UNDER, relief=49)), "indeterminate"),
    "negative from the pain score": ((r(30, pain=5),), "negative"),  # 38 % of 8
    "no reports": ((), "indeterminate"),
}


@pytest.mark.parametrize(("reports", "response"), RESPONSES.values(), ids=RESPONSES.keys())
def test_response(reports: tuple[ReliefReport, ...], response: str) -> None:
    assert summary(*reports).response == response


@pytest.mark.parametrize(
    ("delta", "hours"),
    [
        (timedelta(hours=2, minutes=15), 2.3),  # 2.25: half up (banker's rounding gives 2.2)
        (timedelta(hours=2, minutes=14, seconds=59), 2.2),
        (timedelta(hours=2, minutes=3), 2.1),  # 2.05, not 2.0499999
        (timedelta(hours=2, minutes=57), 3.0),
        (timedelta(minutes=3), 0.1),
        (timedelta(minutes=2, seconds=59), 0.0),
        (timedelta(0), 0.0),
        (timedelta(hours=30), 30.0),
        (timedelta(days=14), 336.0),
    ],
)
def test_hours_between_rounds_to_one_decimal_half_up(delta: timedelta, hours: float) -> None:
    assert hours_between(T0, T0 + delta) == hours


# --- comparison with the previous block ----------------------------------------------------


def lasting(hours: float) -> Relief:
    return summary(r(1, relief=70), r(hours, relief=10))


def ongoing(hours: float) -> Relief:
    return summary(r(1, relief=70), r(hours, relief=80))


NONE = summary(r(30, relief=10))
COMPARISONS = {
    "first": (None, lasting(30), "first"),
    "first, even without relief": (None, NONE, "first"),
    "longer": (lasting(30), lasting(60), "longer"),
    "longer than a block without relief": (NONE, lasting(20), "longer"),
    "longer than a block without reports": (summary(), lasting(20), "longer"),
    "shorter": (lasting(60), lasting(30), "shorter"),
    "same": (lasting(30), lasting(30), "same"),
    "same to the tenth": (lasting(30.04), lasting(29.96), "same"),  # both 30.0 h
    "no relief": (lasting(30), NONE, "no_relief"),
    "no relief twice": (NONE, NONE, "no_relief"),
    "no relief yet, no report from 24 h on": (lasting(30), summary(r(3, relief=10)), "too_early"),
    "no reports yet": (lasting(30), summary(), "too_early"),
    "ongoing, not yet as long": (lasting(30), ongoing(10), "too_early"),
    "ongoing, exactly as long so far": (lasting(30), ongoing(30), "too_early"),
    "ongoing, already longer": (lasting(30), ongoing(40), "longer"),
    "ended, shorter than a previous ongoing": (ongoing(30), lasting(20), "shorter"),
}


@pytest.mark.parametrize(
    ("previous", "current", "expected"), COMPARISONS.values(), ids=COMPARISONS.keys()
)
def test_compare(previous: Relief | None, current: Relief, expected: str) -> None:
    assert compare(previous, current) == expected


# --- properties --------------------------------------------------------------------------


def derived_reference(baseline: int, pain: int) -> int:
    if baseline == 0:
        return 0
    return max(0, min(100, floor(Fraction(100 * (baseline - pain), baseline) + Fraction(1, 2))))


scores = st.integers(0, 10)
reports = st.builds(
    lambda minutes, pain, relief: ReliefReport(T0 + timedelta(minutes=minutes), pain, relief, None),
    st.integers(0, 60 * 24 * 20),
    scores,
    st.none() | st.integers(0, 100),
)
series = st.lists(reports, max_size=12).map(lambda rs: sorted(rs, key=lambda x: x.recorded_at))


@given(baseline=scores, pain=scores)
def test_derived_relief_matches_exact_arithmetic(baseline: int, pain: int) -> None:
    assert summary(r(1, pain), baseline=baseline).peak_relief_percent == derived_reference(
        baseline, pain
    )


@given(baseline=scores, reports=series)
def test_figures_agree_with_the_series(baseline: int, reports: list[ReliefReport]) -> None:
    result = relief_summary(T0, baseline, reports)
    reliefs = [
        x.relief_percent
        if x.relief_percent is not None
        else derived_reference(baseline, x.pain_score)
        for x in reports
    ]
    assert [p.relief_percent for p in result.pain_series] == reliefs
    assert result.peak_relief_percent == max(reliefs, default=None)
    assert result.lowest_pain == min((x.pain_score for x in reports), default=None)
    assert result.report_count == len(reports)
    assert (result.relief_onset_at is None) == all(v < 50 for v in reliefs)
    assert result.relief_ongoing == (
        result.relief_onset_at is not None and result.relief_ended_at is None
    )
    if result.relief_onset_at is not None:  # ended is derived from the series here
        assert result.relief_duration_hours is not None and result.relief_duration_hours >= 0
        if result.relief_ended_at is not None:
            assert result.relief_onset_at < result.relief_ended_at
    else:
        assert result.relief_duration_hours is None and result.relief_ended_at is None


@given(baseline=scores, reports=series, seed=st.integers(0, 2**32))
def test_reports_recorded_at_the_same_moment_in_any_order_give_the_same_figures(
    baseline: int, reports: list[ReliefReport], seed: int
) -> None:
    """Ties on recorded_at: only which report is "latest" may depend on their order."""
    ties = [
        replace(
            x, recorded_at=T0 + timedelta(hours=int((x.recorded_at - T0).total_seconds() // 86400))
        )
        for x in reports
    ]
    shuffled = sorted(random.Random(seed).sample(ties, len(ties)), key=lambda x: x.recorded_at)
    first, second = relief_summary(T0, baseline, ties), relief_summary(T0, baseline, shuffled)
    assert relief_summary(T0, baseline, ties) == first  # and the same input, the same result
    assert replace(first, latest_pain=None, pain_series=()) == replace(
        second, latest_pain=None, pain_series=()
    )
    assert sorted(first.pain_series, key=repr) == sorted(second.pain_series, key=repr)
