"""Properties of the rule engine over random reports (hypothesis), and a second opinion.

`spec_oracle` is red-flags.md's table transcribed a second time, as plain if-statements,
independently of the data-driven rule set; on every random report both must fire exactly the
same rules. Pure: no database, no fixtures.
"""

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.rules import engine
from app.rules.engine import (
    Finding,
    ProcedureFacts,
    ReportFacts,
    guidance_for,
    hours_since_block,
    relief_of,
)
from app.rules.ruleset import VERSION_1
from app.rules.temperature import to_celsius
from app.rules.vocabulary import SEVERITY_RANK, Severity, SideEffectKind

# Pure, but 600 examples a property: tens of seconds of CPU, too many for `pytest -m unit`.
pytestmark = pytest.mark.slow

K = SideEffectKind
T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
RULES = VERSION_1.rules  # the oracle below is version 1's table
TABLE_ORDER = {r.id: i for i, r in enumerate(RULES)}
SEVERITY_ORDER = {"emergency": 0, "urgent": 1, "routine": 2}


def evaluate(r: ReportFacts, p: ProcedureFacts, earlier: Sequence[ReportFacts]) -> list[Finding]:
    return engine.evaluate(r, p, earlier, VERSION_1)


def no_relief_due(p: ProcedureFacts, reports: list[ReportFacts], now: datetime) -> Finding | None:
    return engine.no_relief_due(p, reports, now, VERSION_1)


BOUNDARIES = [0.0, 6.0, 12.0, 24.0, 48.0, 96.0, 336.0]

# Hours biased towards the spec's boundaries, on both sides of them.
hours_st = st.one_of(
    st.floats(min_value=0, max_value=1000, allow_nan=False),
    st.integers(0, 16).map(float),  # whole hours: reports that share a recorded_at
    st.builds(
        lambda b, d: max(0.0, b + d),
        st.sampled_from(BOUNDARIES),
        st.sampled_from([-1e-4, -1e-6, 0.0, 1e-6, 1e-4]),
    ),
)
temperature_st = st.one_of(
    st.none(),
    st.floats(min_value=30.0, max_value=45.0, allow_nan=False),
    st.sampled_from([37.9, 37.99, 38.0, 38.001]),
    st.floats(min_value=86.0, max_value=113.0, allow_nan=False).map(lambda f: to_celsius(f, "F")),
)
effects_st = st.dictionaries(st.sampled_from(list(K)), st.sampled_from(list(Severity)))


@st.composite
def reports_st(draw: st.DrawFn) -> ReportFacts:
    return ReportFacts(
        recorded_at=T0 + timedelta(hours=draw(hours_st)),
        pain_score=draw(st.integers(0, 10)),
        relief_percent=draw(st.one_of(st.none(), st.integers(0, 100))),
        temperature_c=draw(temperature_st),
        side_effects=draw(effects_st),
    )


procedures_st = st.builds(
    ProcedureFacts,
    st.just(T0),
    st.integers(0, 10),
    st.frozensets(st.sampled_from(list(K)), max_size=4),
)


def spec_oracle(r: ReportFacts, p: ProcedureFacts, earlier: Sequence[ReportFacts]) -> set[str]:
    """red-flags.md's rule table, transcribed literally."""
    h = (r.recorded_at - p.performed_at) / timedelta(hours=1)
    e = r.side_effects

    def has(kind: K, at_least: int = 1) -> bool:
        return kind in e and SEVERITY_RANK[e[kind]] >= at_least

    def any_of(*kinds: K) -> bool:
        return any(has(k) for k in kinds)

    mod, sev = 2, 3
    fever = r.temperature_c is not None and r.temperature_c >= 38.0
    rise = r.pain_score >= p.baseline_pain + 3
    out: set[str] = set()
    if any_of(K.breathing_difficulty, K.chest_pain):
        out.add("breathing_difficulty")
    if any_of(K.bladder_bowel_change, K.saddle_numbness):
        out.add("cauda_equina")
    if has(K.fainting):
        out.add("fainting")
    if has(K.confusion):
        out.add("altered_mental_state")
    if h > 6 and has(K.flank_pain) and any_of(K.leg_weakness, K.numbness, K.dizziness, K.fainting):
        out.add("possible_internal_bleeding")
    if (fever or has(K.chills)) and any_of(
        K.neck_stiffness, K.confusion, K.bladder_bowel_change, K.leg_weakness
    ):
        out.add("infection_with_neuro_signs")
    if h > 6 and has(K.unable_to_walk):
        out.add("worsening_weakness")
    before = [x for x in earlier if x.recorded_at < r.recorded_at]
    if h > 6 and has(K.leg_weakness) and before:
        latest = max(x.recorded_at for x in before)
        previous = [x for x in before if x.recorded_at == latest]
        ranks = [
            # Could not walk: beyond severe, so any leg weakness now is recovery, not worse.
            4
            if K.unable_to_walk in x.side_effects
            else SEVERITY_RANK[x.side_effects[K.leg_weakness]]
            if K.leg_weakness in x.side_effects
            else 0
            for x in previous
        ]
        if SEVERITY_RANK[e[K.leg_weakness]] > min(ranks):
            out.add("worsening_weakness")
    if fever or has(K.chills, mod):
        out.add("fever")
    if has(K.site_drainage) or (h >= 24 and (has(K.site_redness, mod) or has(K.swelling, sev))):
        out.add("site_infection")
    if (h > 12 and any_of(K.numbness, K.leg_weakness, K.tingling)) or (
        h <= 6 and has(K.unable_to_walk)
    ):
        out.add("persistent_numbness_or_weakness")
    if has(K.burning_pain) and K.burning_pain not in p.baseline_symptoms:
        out.add("new_burning_pain")
    if has(K.bleeding, mod):
        out.add("bleeding")
    if has(K.rash_or_itching):
        out.add("allergic_reaction")
    if any_of(K.blood_in_urine, K.flank_pain):
        out.add("urinary_tract_injury")
    if has(K.headache, sev) or (has(K.headache) and has(K.neck_stiffness)):
        out.add("severe_headache")
    if (h > 6 and has(K.dizziness, mod)) or (h > 24 and has(K.dizziness)):
        out.add("persistent_dizziness")
    if r.pain_score == 10 or (rise and h > 48):
        out.add("pain_escalation")
    if has(K.other, sev):
        out.add("other_severe")
    if rise and h <= 48:
        out.add("pain_flare")
    if h > 96 and any(has(k, mod) for k in (K.soreness, K.bruising, K.swelling)):
        out.add("prolonged_site_symptoms")
    return out


def expected_oracle(r: ReportFacts, h: float) -> bool:
    """red-flags.md's "Expected effects (no alert)": every side effect listed (at least one)."""

    def ok(kind: K, severity: Severity) -> bool:
        rank = SEVERITY_RANK[severity]
        if kind == K.leg_warmth:
            return True
        if kind in (K.numbness, K.leg_weakness, K.tingling):
            return h <= 12
        if kind in (K.soreness, K.bruising, K.swelling):
            return h <= 96
        if kind == K.dizziness:
            return rank == 1 and h <= 24
        if kind in (K.headache, K.nausea):
            return rank <= 2
        return False

    return bool(r.side_effects) and all(ok(k, s) for k, s in r.side_effects.items())


SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(report=reports_st(), proc=procedures_st, earlier=st.lists(reports_st(), max_size=8))
def test_engine_agrees_with_the_spec_and_guidance_is_consistent(
    report: ReportFacts, proc: ProcedureFacts, earlier: list[ReportFacts]
) -> None:
    findings = evaluate(report, proc, earlier)  # never raises on a valid report
    ids = [f.rule_id for f in findings]
    assert set(ids) == spec_oracle(report, proc, earlier)
    assert len(ids) == len(set(ids))
    assert ids == sorted(
        ids, key=lambda i: (SEVERITY_ORDER[RULES[TABLE_ORDER[i]].severity], TABLE_ORDER[i])
    )
    for f in findings:
        assert f.explanation and all("after the block" in line for line in f.explanation)
        assert f.severity == RULES[TABLE_ORDER[f.rule_id]].severity

    h = hours_since_block(proc.performed_at, report.recorded_at)
    guidance = guidance_for(findings, report, proc, VERSION_1)
    assert guidance.message
    has_emergency = any(f.severity == "emergency" for f in findings)
    assert (guidance.level == "emergency") == has_emergency
    assert (guidance.level == "contact_provider") == (bool(findings) and not has_emergency)
    if guidance.level == "expected":
        assert findings == []
    if not findings:
        assert (guidance.level == "expected") == expected_oracle(report, h)


# Few kinds and whole hours: weakness histories with ties and returns, often.
weakness_st = st.builds(
    lambda h, pain, fx: ReportFacts(T0 + timedelta(hours=h), pain, None, None, fx),
    st.integers(0, 16),
    st.integers(0, 10),
    st.dictionaries(
        st.sampled_from([K.leg_weakness, K.unable_to_walk, K.flank_pain, K.numbness]),
        st.sampled_from(list(Severity)),
    ),
)


@SETTINGS
@given(report=weakness_st, proc=procedures_st, earlier=st.lists(weakness_st, max_size=6))
def test_weakness_histories_agree_with_the_spec(
    report: ReportFacts, proc: ProcedureFacts, earlier: list[ReportFacts]
) -> None:
    assert {f.rule_id for f in evaluate(report, proc, earlier)} == spec_oracle(
        report, proc, earlier
    )


@SETTINGS
@given(
    report=reports_st(),
    proc=procedures_st,
    earlier=st.lists(reports_st(), max_size=8),
    seed=st.integers(0, 2**32),
)
def test_upload_order_and_later_reports_do_not_change_the_verdict(
    report: ReportFacts, proc: ProcedureFacts, earlier: list[ReportFacts], seed: int
) -> None:
    findings = evaluate(report, proc, earlier)
    shuffled = list(earlier)
    random.Random(seed).shuffle(shuffled)
    assert evaluate(report, proc, shuffled) == findings
    before = [x for x in earlier if x.recorded_at < report.recorded_at]
    assert evaluate(report, proc, before) == findings


@SETTINGS
@given(
    proc=procedures_st,
    reports=st.lists(reports_st(), max_size=8),
    now=hours_st,
)
def test_no_relief_due_matches_the_spec(
    proc: ProcedureFacts, reports: list[ReportFacts], now: float
) -> None:
    finding = no_relief_due(proc, reports, T0 + timedelta(hours=now))
    h = hours_since_block(proc.performed_at, T0 + timedelta(hours=now))
    reached = any(relief_of(r, proc.baseline_pain) >= 50 for r in reports)
    assert (finding is not None) == (h >= 336 and not reached)
    for r in reports:
        relief = relief_of(r, proc.baseline_pain)
        assert 0 <= relief <= 100
        if r.relief_percent is None and proc.baseline_pain > 0:
            exact = 100 * (proc.baseline_pain - r.pain_score) / proc.baseline_pain
            assert abs(relief - min(100, max(0, exact))) <= 0.5
