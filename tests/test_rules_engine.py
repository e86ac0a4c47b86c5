"""The rule engine against red-flags.md, row by row, on both sides of every threshold.

Pure unit tests: no database, no app, no fixtures. Expectations are copied from the spec's
table, not from the rule set. Every case states the exact set of rules a report fires, so a
false alarm fails a test as surely as a missed one. The block is performed at T0; "hours" are
hours after it; the baseline pain is 5 and the baseline symptoms are empty unless a case says
otherwise.
"""

import itertools
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.rules import engine
from app.rules.engine import (
    Finding,
    ProcedureFacts,
    ReportFacts,
    guidance_for,
    relief_of,
)
from app.rules.ruleset import VERSION_1, public_rules
from app.rules.temperature import to_celsius
from app.rules.vocabulary import Severity, SideEffectKind

pytestmark = pytest.mark.unit

RULES = VERSION_1.rules  # this file is version 1's table; tests/test_rules_v2.py is version 2's
T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
JUST = 0.0001  # hours (0.36 s): "just after" / "just before" a boundary
BASELINE = 5


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def report(
    hours: float,
    pain: int = BASELINE,
    relief: int | None = None,
    temp: float | None = None,
    **effects: str,
) -> ReportFacts:
    return ReportFacts(
        recorded_at=at(hours),
        pain_score=pain,
        relief_percent=relief,
        temperature_c=temp,
        side_effects={SideEffectKind(k): Severity(v) for k, v in effects.items()},
    )


def procedure(baseline: int = BASELINE, *symptoms: str) -> ProcedureFacts:
    return ProcedureFacts(T0, baseline, frozenset(SideEffectKind(s) for s in symptoms))


def evaluate(r: ReportFacts, p: ProcedureFacts, earlier: Sequence[ReportFacts]) -> list[Finding]:
    return engine.evaluate(r, p, earlier, VERSION_1)


def no_relief_due(p: ProcedureFacts, reports: list[ReportFacts], now: datetime) -> Finding | None:
    return engine.no_relief_due(p, reports, now, VERSION_1)


def fired(
    r: ReportFacts, p: ProcedureFacts | None = None, earlier: Sequence[ReportFacts] = ()
) -> set[str]:
    return {f.rule_id for f in evaluate(r, p or procedure(), earlier)}


# red-flags.md's table, copied: id -> severity, in table order.
SPEC_TABLE = {
    "breathing_difficulty": "emergency",
    "cauda_equina": "emergency",
    "fainting": "emergency",
    "altered_mental_state": "emergency",
    "possible_internal_bleeding": "emergency",
    "infection_with_neuro_signs": "emergency",
    "worsening_weakness": "emergency",
    "fever": "urgent",
    "site_infection": "urgent",
    "persistent_numbness_or_weakness": "urgent",
    "new_burning_pain": "urgent",
    "bleeding": "urgent",
    "allergic_reaction": "urgent",
    "urinary_tract_injury": "urgent",
    "severe_headache": "urgent",
    "persistent_dizziness": "urgent",
    "pain_escalation": "urgent",
    "other_severe": "urgent",
    "pain_flare": "routine",
    "prolonged_site_symptoms": "routine",
    "no_relief": "routine",
    "missed_checkin": "routine",
}


def test_rule_set_is_the_spec_table() -> None:
    assert [(r.id, r.severity) for r in RULES] == list(SPEC_TABLE.items())
    assert VERSION_1.version == 1
    assert all(r.version == 1 and r.title and r.description for r in RULES)
    assert {r.id: r.source for r in RULES if r.source != "report"} == {
        "no_relief": "clock",
        "missed_checkin": "scheduler",
    }
    assert public_rules(VERSION_1)[0] == {
        "id": "breathing_difficulty",
        "version": 1,
        "severity": "emergency",
        "title": RULES[0].title,
        "description": RULES[0].description,
    }


# (id, report, fired rules). Baseline 5, no baseline symptoms, no earlier reports.
CASES: list[tuple[str, ReportFacts, set[str]]] = [
    # breathing_difficulty: breathing_difficulty or chest_pain (any)
    ("breathing-mild-1h", report(1, breathing_difficulty="mild"), {"breathing_difficulty"}),
    ("chest-pain-mild-500h", report(500, chest_pain="mild"), {"breathing_difficulty"}),
    (
        "breathing-and-chest-pain",
        report(2, breathing_difficulty="severe", chest_pain="moderate"),
        {"breathing_difficulty"},
    ),
    # cauda_equina: bladder_bowel_change or saddle_numbness (any)
    ("bladder-bowel-mild-0.5h", report(0.5, bladder_bowel_change="mild"), {"cauda_equina"}),
    ("saddle-numbness-mild-200h", report(200, saddle_numbness="mild"), {"cauda_equina"}),
    # fainting, altered_mental_state
    ("fainting-mild-2h", report(2, fainting="mild"), {"fainting"}),
    ("confusion-mild-1h", report(1, confusion="mild"), {"altered_mental_state"}),
    # possible_internal_bleeding: flank_pain with weakness/numbness/dizziness/fainting, hours > 6
    (
        "flank-weakness-at-6h",
        report(6, flank_pain="mild", leg_weakness="mild"),
        {"urinary_tract_injury"},
    ),
    (
        "flank-weakness-just-after-6h",
        report(6 + JUST, flank_pain="mild", leg_weakness="mild"),
        {"possible_internal_bleeding", "urinary_tract_injury"},
    ),
    (
        "flank-numbness-8h",
        report(8, flank_pain="mild", numbness="mild"),
        {"possible_internal_bleeding", "urinary_tract_injury"},
    ),
    (
        "flank-dizziness-8h",
        report(8, flank_pain="mild", dizziness="mild"),
        {"possible_internal_bleeding", "urinary_tract_injury"},
    ),
    (
        "flank-dizziness-just-before-6h",
        report(6 - JUST, flank_pain="mild", dizziness="mild"),
        {"urinary_tract_injury"},
    ),
    (
        "flank-fainting-8h",
        report(8, flank_pain="mild", fainting="mild"),
        {"fainting", "possible_internal_bleeding", "urinary_tract_injury"},
    ),
    ("flank-alone-8h", report(8, flank_pain="severe"), {"urinary_tract_injury"}),
    (
        "flank-tingling-8h-not-listed",
        report(8, flank_pain="mild", tingling="mild"),
        {"urinary_tract_injury"},
    ),
    # infection_with_neuro_signs: (fever >= 38.0 or chills any) with a neuro sign, any hour
    (
        "fever-38.0-neck-stiffness-1h",
        report(1, temp=38.0, neck_stiffness="mild"),
        {"infection_with_neuro_signs", "fever"},
    ),
    ("temp-37.9-neck-stiffness", report(1, temp=37.9, neck_stiffness="mild"), set()),
    (
        "chills-mild-leg-weakness-2h",
        report(2, chills="mild", leg_weakness="mild"),
        {"infection_with_neuro_signs"},
    ),
    (
        "chills-mild-confusion",
        report(30, chills="mild", confusion="mild"),
        {"infection_with_neuro_signs", "altered_mental_state"},
    ),
    (
        "chills-mild-bladder-bowel",
        report(30, chills="mild", bladder_bowel_change="mild"),
        {"infection_with_neuro_signs", "cauda_equina"},
    ),
    ("fever-with-headache-not-neuro", report(30, temp=38.0, headache="mild"), {"fever"}),
    ("fever-with-tingling-not-neuro", report(2, temp=38.5, tingling="mild"), {"fever"}),
    ("chills-moderate-numbness-2h", report(2, chills="moderate", numbness="mild"), {"fever"}),
    # worsening_weakness (no previous report here): unable_to_walk at hours > 6
    ("unable-to-walk-at-6h", report(6, unable_to_walk="mild"), {"persistent_numbness_or_weakness"}),
    (
        "unable-to-walk-just-after-6h",
        report(6 + JUST, unable_to_walk="mild"),
        {"worsening_weakness"},
    ),
    ("unable-to-walk-200h", report(200, unable_to_walk="mild"), {"worsening_weakness"}),
    ("first-report-weakness-8h", report(8, leg_weakness="severe"), set()),
    # fever: temperature >= 38.0 °C (100.4 °F), or chills moderate or severe
    ("temp-38.0C-31h", report(31, temp=38.0), {"fever"}),
    ("temp-37.9C-31h", report(31, temp=37.9), set()),
    ("temp-100.4F", report(31, temp=to_celsius(100.4, "F")), {"fever"}),
    ("temp-100.3F", report(31, temp=to_celsius(100.3, "F")), set()),
    ("temp-100.39F", report(31, temp=to_celsius(100.39, "F")), set()),
    ("temp-45C", report(31, temp=45.0), {"fever"}),
    ("temp-30C", report(31, temp=30.0), set()),
    ("chills-mild", report(5, chills="mild"), set()),
    ("chills-moderate", report(5, chills="moderate"), {"fever"}),
    ("chills-severe", report(5, chills="severe"), {"fever"}),
    # site_infection: drainage any; redness moderate+ at >= 24; swelling severe at >= 24
    ("drainage-mild-1h", report(1, site_drainage="mild"), {"site_infection"}),
    ("redness-moderate-just-before-24h", report(24 - JUST, site_redness="moderate"), set()),
    ("redness-moderate-at-24h", report(24, site_redness="moderate"), {"site_infection"}),
    ("redness-severe-at-24h", report(24, site_redness="severe"), {"site_infection"}),
    ("redness-mild-48h", report(48, site_redness="mild"), set()),
    ("swelling-severe-just-before-24h", report(24 - JUST, swelling="severe"), set()),
    ("swelling-severe-at-24h", report(24, swelling="severe"), {"site_infection"}),
    ("swelling-moderate-30h", report(30, swelling="moderate"), set()),
    # persistent_numbness_or_weakness: numbness/weakness/tingling at > 12; unable_to_walk <= 6
    ("numbness-at-12h", report(12, numbness="mild"), set()),
    (
        "numbness-just-after-12h",
        report(12 + JUST, numbness="mild"),
        {"persistent_numbness_or_weakness"},
    ),
    (
        "tingling-just-after-12h",
        report(12 + JUST, tingling="mild"),
        {"persistent_numbness_or_weakness"},
    ),
    ("weakness-at-12h", report(12, leg_weakness="severe"), set()),
    (
        "weakness-12h-plus-1us",
        ReportFacts(
            at(12) + timedelta(microseconds=1),
            5,
            None,
            None,
            {SideEffectKind.leg_weakness: Severity.mild},
        ),
        {"persistent_numbness_or_weakness"},
    ),
    (
        "unable-to-walk-0.5h",
        report(0.5, unable_to_walk="severe"),
        {"persistent_numbness_or_weakness"},
    ),
    # bleeding: moderate or severe
    ("bleeding-mild", report(3, bleeding="mild"), set()),
    ("bleeding-moderate", report(3, bleeding="moderate"), {"bleeding"}),
    ("bleeding-severe", report(3, bleeding="severe"), {"bleeding"}),
    # allergic_reaction, urinary_tract_injury
    ("rash-mild", report(3, rash_or_itching="mild"), {"allergic_reaction"}),
    ("blood-in-urine-mild-1h", report(1, blood_in_urine="mild"), {"urinary_tract_injury"}),
    ("flank-pain-mild-1h", report(1, flank_pain="mild"), {"urinary_tract_injury"}),
    # severe_headache: severe, or any with neck_stiffness
    ("headache-severe", report(30, headache="severe"), {"severe_headache"}),
    ("headache-moderate", report(30, headache="moderate"), set()),
    (
        "headache-mild-neck-stiffness",
        report(30, headache="mild", neck_stiffness="mild"),
        {"severe_headache"},
    ),
    ("neck-stiffness-alone", report(30, neck_stiffness="moderate"), set()),
    # persistent_dizziness: moderate+ at > 6; any at > 24
    ("dizziness-mild-at-24h", report(24, dizziness="mild"), set()),
    (
        "dizziness-mild-just-after-24h",
        report(24 + JUST, dizziness="mild"),
        {"persistent_dizziness"},
    ),
    ("dizziness-moderate-at-6h", report(6, dizziness="moderate"), set()),
    (
        "dizziness-moderate-just-after-6h",
        report(6 + JUST, dizziness="moderate"),
        {"persistent_dizziness"},
    ),
    (
        "dizziness-severe-just-after-6h",
        report(6 + JUST, dizziness="severe"),
        {"persistent_dizziness"},
    ),
    # pain_escalation: pain 10; or >= baseline + 3 at > 48.  pain_flare: >= baseline + 3 at <= 48
    ("pain-10-at-1h", report(1, pain=10), {"pain_escalation", "pain_flare"}),
    ("pain-9-at-100h", report(100, pain=9), {"pain_escalation"}),
    ("pain-plus-3-at-48h", report(48, pain=8), {"pain_flare"}),
    ("pain-plus-3-just-after-48h", report(48 + JUST, pain=8), {"pain_escalation"}),
    ("pain-plus-2-at-60h", report(60, pain=7), set()),
    ("pain-plus-2-at-10h", report(10, pain=7), set()),
    ("pain-below-baseline", report(10, pain=0), set()),
    # other_severe
    ("other-severe", report(3, other="severe"), {"other_severe"}),
    ("other-moderate", report(3, other="moderate"), set()),
    # prolonged_site_symptoms: soreness/bruising/swelling moderate+ at > 96
    ("soreness-moderate-at-96h", report(96, soreness="moderate"), set()),
    (
        "soreness-moderate-just-after-96h",
        report(96 + JUST, soreness="moderate"),
        {"prolonged_site_symptoms"},
    ),
    ("bruising-severe-100h", report(100, bruising="severe"), {"prolonged_site_symptoms"}),
    ("swelling-moderate-100h", report(100, swelling="moderate"), {"prolonged_site_symptoms"}),
    (
        "swelling-severe-100h",
        report(100, swelling="severe"),
        {"prolonged_site_symptoms", "site_infection"},
    ),
    ("soreness-mild-100h", report(100, soreness="mild"), set()),
    # nothing at all
    ("empty-report", report(3), set()),
    ("leg-warmth-any-time", report(900, leg_warmth="severe"), set()),
]


@pytest.mark.parametrize(("r", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule_table(r: ReportFacts, expected: set[str]) -> None:
    assert fired(r) == expected


def test_every_report_rule_is_covered_by_a_case() -> None:
    covered = set().union(*(c[2] for c in CASES))
    assert covered == set(SPEC_TABLE) - {"no_relief", "missed_checkin", "new_burning_pain"}


# pain_escalation / pain_flare with other baselines: (id, baseline, pain, hours, fired)
PAIN_CASES = [
    ("baseline-9-pain-10-1h", 9, 10, 1, {"pain_escalation"}),
    ("baseline-10-pain-10-100h", 10, 10, 100, {"pain_escalation"}),
    ("baseline-0-pain-3-10h", 0, 3, 10, {"pain_flare"}),
    ("baseline-0-pain-2-10h", 0, 2, 10, set()),
    ("baseline-7-pain-9-100h", 7, 9, 100, set()),
    ("baseline-7-pain-10-100h", 7, 10, 100, {"pain_escalation"}),
]


@pytest.mark.parametrize(
    ("baseline", "pain", "hours", "expected"),
    [c[1:] for c in PAIN_CASES],
    ids=[c[0] for c in PAIN_CASES],
)
def test_pain_against_baseline(baseline: int, pain: int, hours: float, expected: set[str]) -> None:
    assert fired(report(hours, pain=pain), procedure(baseline)) == expected


# new_burning_pain: (id, baseline symptoms, severity, fired)
BURNING_CASES = [
    ("not-in-baseline-mild", (), "mild", {"new_burning_pain"}),
    ("not-in-baseline-severe", ("numbness",), "severe", {"new_burning_pain"}),
    ("in-baseline", ("burning_pain",), "severe", set()),
    ("in-baseline-with-others", ("numbness", "burning_pain"), "mild", set()),
]


@pytest.mark.parametrize(
    ("baseline_symptoms", "severity", "expected"),
    [c[1:] for c in BURNING_CASES],
    ids=[c[0] for c in BURNING_CASES],
)
def test_new_burning_pain(
    baseline_symptoms: tuple[str, ...], severity: str, expected: set[str]
) -> None:
    p = procedure(BASELINE, *baseline_symptoms)
    assert fired(report(20, burning_pain=severity), p) == expected


# worsening_weakness against the previous report: (id, now, earlier, fired)
WEAKNESS_CASES: list[tuple[str, ReportFacts, list[ReportFacts], set[str]]] = [
    ("came-back-mild-8h", report(8, leg_weakness="mild"), [report(2)], {"worsening_weakness"}),
    ("same-mild-8h", report(8, leg_weakness="mild"), [report(2, leg_weakness="mild")], set()),
    (
        "mild-to-moderate-8h",
        report(8, leg_weakness="moderate"),
        [report(2, leg_weakness="mild")],
        {"worsening_weakness"},
    ),
    (
        "severe-to-mild-8h",
        report(8, leg_weakness="mild"),
        [report(2, leg_weakness="severe")],
        set(),
    ),
    ("worse-at-6h", report(6, leg_weakness="moderate"), [report(2, leg_weakness="mild")], set()),
    (
        "worse-just-after-6h",
        report(6 + JUST, leg_weakness="moderate"),
        [report(2, leg_weakness="mild")],
        {"worsening_weakness"},
    ),
    (
        "worse-14h-also-persistent",
        report(14, leg_weakness="severe"),
        [report(2, leg_weakness="mild")],
        {"worsening_weakness", "persistent_numbness_or_weakness"},
    ),
    (
        "same-14h-persistent-only",
        report(14, leg_weakness="mild"),
        [report(2, leg_weakness="mild")],
        {"persistent_numbness_or_weakness"},
    ),
    (
        "previous-is-the-latest-none",
        report(8, leg_weakness="mild"),
        [report(1, leg_weakness="severe"), report(4)],
        {"worsening_weakness"},
    ),
    (
        "previous-is-the-latest-severe",
        report(8, leg_weakness="mild"),
        [report(1), report(4, leg_weakness="severe")],
        set(),
    ),
    (
        "later-report-ignored-fires",
        report(8, leg_weakness="mild"),
        [report(2), report(10, leg_weakness="severe")],
        {"worsening_weakness"},
    ),
    (
        "later-report-ignored-silent",
        report(8, leg_weakness="mild"),
        [report(2, leg_weakness="mild"), report(10)],
        set(),
    ),
    (
        "same-time-report-ignored",
        report(8, leg_weakness="mild"),
        [report(2, leg_weakness="mild"), report(8)],
        set(),
    ),
    (
        "tied-previous-mildest-counts",
        report(8, leg_weakness="mild"),
        [report(4, leg_weakness="mild"), report(4)],
        {"worsening_weakness"},
    ),
    ("no-weakness-now", report(8), [report(2, leg_weakness="severe")], set()),
]


@pytest.mark.parametrize(
    ("r", "earlier", "expected"),
    [c[1:] for c in WEAKNESS_CASES],
    ids=[c[0] for c in WEAKNESS_CASES],
)
def test_worsening_weakness(r: ReportFacts, earlier: list[ReportFacts], expected: set[str]) -> None:
    for order in itertools.permutations(earlier):
        assert fired(r, procedure(), order) == expected


def test_verdict_does_not_depend_on_upload_order() -> None:
    now = report(9, pain=9, temp=38.2, leg_weakness="moderate", dizziness="mild")
    earlier = [
        report(1, leg_weakness="severe"),
        report(3, leg_weakness="mild"),
        report(5),
        report(7, leg_weakness="mild", dizziness="mild"),
        report(11),  # recorded after `now`: ignored
    ]
    results = {
        tuple(evaluate(now, procedure(), order)) for order in itertools.permutations(earlier)
    }
    assert len(results) == 1
    (findings,) = results
    assert [f.rule_id for f in findings] == [
        "infection_with_neuro_signs",  # 38.2 °C with leg weakness
        "worsening_weakness",  # moderate now, mild at 7 h (the previous report)
        "fever",
        "pain_flare",
    ]


def test_findings_most_severe_first_then_table_order() -> None:
    r = report(
        30,
        pain=10,
        temp=39.0,
        chest_pain="mild",
        fainting="mild",
        rash_or_itching="mild",
        bleeding="severe",
        site_drainage="mild",
    )
    assert [f.rule_id for f in evaluate(r, procedure(), [])] == [
        "breathing_difficulty",
        "fainting",
        "fever",
        "site_infection",
        "bleeding",
        "allergic_reaction",
        "pain_escalation",
        "pain_flare",
    ]
    findings = evaluate(r, procedure(), [])
    assert [f.severity for f in findings][:2] == ["emergency", "emergency"]
    assert all(f.rule_version == 1 and f.title for f in findings)


def test_flank_pain_with_dizziness_at_8h_raises_both_alerts() -> None:
    findings = evaluate(report(8, flank_pain="mild", dizziness="mild"), procedure(), [])
    assert [(f.rule_id, f.severity) for f in findings] == [
        ("possible_internal_bleeding", "emergency"),
        ("urinary_tract_injury", "urgent"),
    ]


def _explanation(
    r: ReportFacts, rule_id: str, earlier: Sequence[ReportFacts] = ()
) -> tuple[str, ...]:
    (finding,) = [f for f in evaluate(r, procedure(), earlier) if f.rule_id == rule_id]
    return finding.explanation


def test_explanation_fever() -> None:
    r = report(31, temp=to_celsius(101.5, "F"))
    assert _explanation(r, "fever") == (
        "Temperature 38.6 °C (101.5 °F) at 31 h after the block; threshold 38.0 °C",
    )


def test_explanation_persistent_weakness() -> None:
    assert _explanation(report(14, leg_weakness="severe"), "persistent_numbness_or_weakness") == (
        "Leg weakness (severe) at 14 h after the block; expected to wear off by 12 h",
    )


def test_explanation_worsening_and_returning_weakness() -> None:
    worse = _explanation(
        report(14, leg_weakness="severe"), "worsening_weakness", [report(2, leg_weakness="mild")]
    )
    assert worse == (
        "Leg weakness now severe at 14 h after the block; was mild in the previous report "
        "(recorded 2026-11-21 14:00 UTC, 2 h after the block)",
    )
    back = _explanation(report(8.5, leg_weakness="mild"), "worsening_weakness", [report(2)])
    assert back == (
        "Leg weakness (mild) at 8.5 h after the block; the previous report "
        "(recorded 2026-11-21 14:00 UTC, 2 h after the block) had none",
    )


def test_explanation_bleeding_and_multiple_facts() -> None:
    assert _explanation(
        report(8, flank_pain="mild", dizziness="moderate"), "possible_internal_bleeding"
    ) == (
        "Flank pain (mild) together with dizziness (moderate) at 8 h after the block; "
        "applies after 6 h",
    )
    lines = _explanation(report(30, temp=39.2, chills="severe"), "fever")
    assert lines == (
        "Temperature 39.2 °C (102.6 °F) at 30 h after the block; threshold 38.0 °C",
        "Chills (severe) at 30 h after the block; threshold moderate or severe",
    )
    pain = _explanation(report(60, pain=9), "pain_escalation")
    assert pain == (
        "Pain score 9/10, baseline 5/10 (+4) at 60 h after the block; threshold +3; applies after 48 h",
    )


def test_every_explanation_line_states_hours_since_the_block() -> None:
    for _, r, _ in CASES:
        for finding in evaluate(r, procedure(), []):
            assert finding.explanation
            for line in finding.explanation:
                assert re.search(r"at \d+(\.\d)? h( \([\d.]+ days\))? after the block", line), line
            assert finding.symptoms


# Guidance: (id, report, level). Baseline 5, no earlier reports.
GUIDANCE_CASES = [
    # every expected effect, at its limit: no finding, "expected"
    ("leg-warmth-severe-900h", report(900, leg_warmth="severe"), "expected"),
    ("numbness-severe-at-12h", report(12, numbness="severe"), "expected"),
    ("leg-weakness-severe-at-12h", report(12, leg_weakness="severe"), "expected"),
    ("tingling-moderate-1h", report(1, tingling="moderate"), "expected"),
    ("soreness-severe-at-96h", report(96, soreness="severe"), "expected"),
    ("bruising-severe-at-96h", report(96, bruising="severe"), "expected"),
    ("swelling-moderate-at-96h", report(96, swelling="moderate"), "expected"),
    ("swelling-severe-23h", report(23, swelling="severe"), "expected"),
    ("dizziness-mild-at-24h", report(24, dizziness="mild"), "expected"),
    ("headache-moderate-300h", report(300, headache="moderate"), "expected"),
    ("headache-mild", report(3, headache="mild"), "expected"),
    ("nausea-moderate-300h", report(300, nausea="moderate"), "expected"),
    ("nausea-mild", report(3, nausea="mild"), "expected"),
    ("pain-plus-2", report(3, pain=7, leg_warmth="mild"), "expected"),
    (
        "all-expected-together",
        report(
            10,
            leg_warmth="mild",
            numbness="moderate",
            soreness="mild",
            nausea="mild",
            dizziness="mild",
        ),
        "expected",
    ),
    # listed but beyond the expected severity or hours, and firing no rule: "none"
    ("nausea-severe", report(3, nausea="severe"), "none"),
    ("dizziness-moderate-3h", report(3, dizziness="moderate"), "none"),
    ("soreness-mild-just-after-96h", report(96 + JUST, soreness="mild"), "none"),
    # not an expected effect and firing no rule: "none"
    ("other-mild", report(3, other="mild"), "none"),
    ("site-redness-mild", report(3, site_redness="mild"), "none"),
    ("bleeding-mild", report(3, bleeding="mild"), "none"),
    ("neck-stiffness-mild", report(3, neck_stiffness="mild"), "none"),
    ("expected-with-unexpected", report(3, leg_warmth="mild", other="mild"), "none"),
    ("no-side-effects", report(3), "none"),
    ("normal-temperature-only", report(3, temp=37.2), "none"),
    # a rule fired: contact_provider or emergency
    ("numbness-just-after-12h", report(12 + JUST, numbness="mild"), "contact_provider"),
    ("pain-flare-routine-only", report(3, pain=8), "contact_provider"),
    ("fever-with-leg-warmth", report(3, temp=38.0, leg_warmth="mild"), "contact_provider"),
    ("chest-pain", report(3, chest_pain="mild"), "emergency"),
    ("emergency-and-urgent", report(8, flank_pain="mild", dizziness="mild"), "emergency"),
    ("emergency-with-expected", report(3, confusion="mild", leg_warmth="mild"), "emergency"),
]


@pytest.mark.parametrize(
    ("r", "level"), [c[1:] for c in GUIDANCE_CASES], ids=[c[0] for c in GUIDANCE_CASES]
)
def test_guidance(r: ReportFacts, level: str) -> None:
    p = procedure()
    findings = evaluate(r, p, [])
    guidance = guidance_for(findings, r, p, VERSION_1)
    assert guidance.level == level
    assert guidance.message
    if level in ("expected", "none"):
        assert findings == []
    if level == "emergency":
        assert any(f.severity == "emergency" for f in findings)


def _guidance_message(r: ReportFacts, earlier: Sequence[ReportFacts] = ()) -> str:
    p = procedure()
    return guidance_for(evaluate(r, p, earlier), r, p, VERSION_1).message


def test_guidance_messages_name_the_symptoms() -> None:
    emergency = _guidance_message(report(8, flank_pain="mild", dizziness="moderate"))
    assert "Call emergency services now" in emergency
    assert "Do not wait for the clinic" in emergency
    # red-flags-v2.md's patient wording applies to version 1 too (a safety fix, not a rule)
    assert "pain in your side, lower belly or deep in the groin" in emergency
    assert "dizziness (moderate)" in emergency
    assert "lumbar sympathetic block) on 21 November 2026" in emergency
    assert "blood thinners" in emergency

    urgent = _guidance_message(report(31, temp=38.6, rash_or_itching="mild"))
    assert "care team has been told" in urgent and "will contact you" in urgent
    assert "call the clinic" in urgent and "emergency services" in urgent
    assert "38.6 °C (101.5 °F)" in urgent and "rash or itching (mild)" in urgent

    expected = _guidance_message(report(3, leg_warmth="mild", numbness="moderate"))
    assert "Leg warmth is an expected effect of the block" in expected
    assert "Numbness is expected for up to 12 hours" in expected

    returning = _guidance_message(report(8, leg_weakness="mild"), [report(2)])
    assert "Call emergency services now" in returning and "leg weakness (mild)" in returning


def test_guidance_with_baseline_refuses_expected_for_a_pain_rise() -> None:
    # Findings passed in by hand (empty): the baseline check still holds the line.
    r = report(3, pain=8, leg_warmth="mild")
    assert guidance_for([], r, procedure(5), VERSION_1).level == "none"
    assert guidance_for([], r, procedure(6), VERSION_1).level == "expected"


def test_guidance_level_follows_the_most_severe_finding() -> None:
    r = report(3)

    def finding(severity: Any) -> Finding:
        return Finding("x", 1, severity, "Something", ("line",), ("something",))

    p = procedure()
    assert guidance_for([finding("routine")], r, p, VERSION_1).level == "contact_provider"
    assert guidance_for([finding("routine"), finding("emergency")], r, p, VERSION_1).level == (
        "emergency"
    )
    assert "something" in guidance_for([finding("urgent")], r, p, VERSION_1).message


# relief_of: (id, baseline, pain, relief_percent, relief)
RELIEF_CASES = [
    ("half-up-62.5", 8, 3, None, 63),
    ("half-up-37.5", 8, 5, None, 38),
    ("half-up-12.5", 8, 7, None, 13),
    ("exact-75", 4, 1, None, 75),
    ("exact-50", 6, 3, None, 50),
    ("two-thirds", 3, 1, None, 67),
    ("one-third", 3, 2, None, 33),
    ("57.14", 7, 3, None, 57),
    ("no-change", 10, 10, None, 0),
    ("pain-free", 10, 0, None, 100),
    ("worse-clamped-to-0", 5, 8, None, 0),
    ("baseline-0-pain-0", 0, 0, None, 0),
    ("baseline-0-pain-5", 0, 5, None, 0),
    ("given-wins", 5, 5, 70, 70),
    ("given-0-wins", 5, 0, 0, 0),
    ("given-100", 0, 9, 100, 100),
]


@pytest.mark.parametrize(
    ("baseline", "pain", "given", "relief"),
    [c[1:] for c in RELIEF_CASES],
    ids=[c[0] for c in RELIEF_CASES],
)
def test_relief_of(baseline: int, pain: int, given: int | None, relief: int) -> None:
    assert relief_of(report(24, pain=pain, relief=given), baseline) == relief


# no_relief_due: (id, baseline, reports, now in hours, fires)
NO_RELIEF_CASES = [
    ("no-reports-just-before-336h", 5, [], 336 - JUST, False),
    ("no-reports-at-336h", 5, [], 336, True),
    ("given-49", 5, [report(24, relief=49)], 400, True),
    ("given-50", 5, [report(24, relief=50)], 400, False),
    ("given-50-before-336h", 5, [report(24, relief=10)], 300, False),
    ("derived-50", 8, [report(24, pain=4)], 400, False),
    ("derived-37.5-rounds-to-38", 8, [report(24, pain=5)], 400, True),
    ("derived-62.5", 8, [report(24, pain=3)], 400, False),
    ("derived-baseline-0", 0, [report(24, pain=0)], 400, True),
    ("given-overrides-derived", 8, [report(24, pain=0, relief=40)], 400, True),
    (
        "one-of-many-reached-50",
        8,
        [report(24, pain=8), report(48, relief=55), report(96, pain=8)],
        400,
        False,
    ),
]


@pytest.mark.parametrize(
    ("baseline", "reports", "now", "fires"),
    [c[1:] for c in NO_RELIEF_CASES],
    ids=[c[0] for c in NO_RELIEF_CASES],
)
def test_no_relief_due(baseline: int, reports: list[ReportFacts], now: float, fires: bool) -> None:
    finding = no_relief_due(procedure(baseline), reports, at(now))
    assert (finding is not None) == fires
    if finding is not None:
        assert (finding.rule_id, finding.rule_version, finding.severity) == (
            "no_relief",
            1,
            "routine",
        )
        assert all(" h " in line for line in finding.explanation)


def test_no_relief_explanation() -> None:
    finding = no_relief_due(procedure(8), [report(24, pain=6), report(48, pain=5)], at(340))
    assert finding is not None
    assert finding.explanation == (
        "No report reached 50 % relief at 340 h (14.2 days) after the block; "
        "threshold 50 % by 336 h (14 days)",
        "Best relief 38 % (recorded 2026-11-23 12:00 UTC, 48 h after the block); 2 reports in all",
    )


def test_evaluate_does_not_raise_the_clock_driven_rules() -> None:
    r = report(400, pain=5)
    assert fired(r, procedure(5), [report(24, pain=5)]) == set()


@pytest.mark.parametrize(
    "build",
    [
        lambda: ReportFacts(datetime(2026, 11, 21, 12), 5),
        lambda: ReportFacts(T0, 11),
        lambda: ReportFacts(T0, -1),
        lambda: ReportFacts(T0, 5, relief_percent=101),
        lambda: ReportFacts(T0, 5, temperature_c=float("nan")),
        lambda: ReportFacts(T0, 5, side_effects={"hiccups": Severity.mild}),  # type: ignore[dict-item]
        lambda: ReportFacts(T0, 5, side_effects={SideEffectKind.nausea: "awful"}),  # type: ignore[dict-item]
        lambda: ProcedureFacts(datetime(2026, 11, 21, 12), 5),
        lambda: ProcedureFacts(T0, 11),
    ],
    ids=[
        "naive-recorded-at",
        "pain-11",
        "pain-negative",
        "relief-101",
        "temperature-nan",
        "unknown-kind",
        "unknown-severity",
        "naive-performed-at",
        "baseline-11",
    ],
)
def test_facts_reject_invalid_values(build: Any) -> None:
    with pytest.raises(ValueError):
        build()


def test_facts_accept_plain_strings_and_freeze_them() -> None:
    r = ReportFacts(T0, 5, side_effects={"leg_weakness": "mild"})  # type: ignore[dict-item]
    assert r.side_effects == {SideEffectKind.leg_weakness: Severity.mild}
    with pytest.raises(TypeError):
        r.side_effects[SideEffectKind.nausea] = Severity.mild  # type: ignore[index]
    assert hash(r) == hash(ReportFacts(T0, 5, side_effects={"nausea": "mild"}))  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("r", "earlier", "expected"),
    [
        # Could not walk at 7 h, now mild leg weakness at 10 h: recovering, not an emergency.
        (report(10, leg_weakness="mild"), [report(7, unable_to_walk="severe")], set()),
        (report(10, leg_weakness="severe"), [report(7, unable_to_walk="mild")], set()),
        # Still unable to walk is itself worsening_weakness after 6 h, as the spec says.
        (
            report(10, leg_weakness="mild", unable_to_walk="mild"),
            [report(7, unable_to_walk="severe")],
            {"worsening_weakness"},
        ),
        # Walking again at 7 h, weakness back at 10 h: that is weakness that came back.
        (report(10, leg_weakness="mild"), [report(7)], {"worsening_weakness"}),
    ],
    ids=["unable_then_mild", "unable_then_severe", "still_unable", "walking_then_weak"],
)
def test_unable_to_walk_counts_as_the_most_severe_weakness(
    r: ReportFacts, earlier: list[ReportFacts], expected: set[str]
) -> None:
    assert fired(r, earlier=earlier) == expected
