"""Micro-benchmark of the rule engine: median time of one evaluate() call.

    .venv/bin/python bench/rules_bench.py [--repeat 2000] [--number 100]

A realistic report (3 side effects, a temperature, 31 h after the block) judged against 10
earlier reports of the same procedure, one of them recorded after it (ignored). Also times
evaluate() + guidance_for() together, and a report that fires nothing, with each rule set
(version 2 has 33 rules to version 1's 22). Target: evaluate() under 50 us median, both versions.
"""

import argparse
import statistics
import sys
import timeit
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.rules.engine import (
    ProcedureFacts,
    ReportFacts,
    evaluate,
    guidance_for,
)
from app.rules.ruleset import RULE_SETS, RuleSet
from app.rules.vocabulary import Severity, SideEffectKind

T0 = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
K, S = SideEffectKind, Severity


def _earlier() -> list[ReportFacts]:
    hours = [1, 4, 8, 12, 18, 24, 26, 28, 30, 40]  # the 40 h one is after the report: ignored
    kinds = [K.leg_weakness, K.numbness, K.soreness, K.leg_warmth, K.nausea]
    return [
        ReportFacts(
            T0 + timedelta(hours=h),
            pain_score=max(0, 7 - i),
            relief_percent=None if i % 2 else 10 * i,
            temperature_c=36.8 + 0.1 * i,
            side_effects={kinds[(i + j) % len(kinds)]: S.mild for j in range(3)},
        )
        for i, h in enumerate(hours)
    ]


def _median_us(call: Callable[[], object], repeat: int, number: int) -> float:
    runs = timeit.repeat(call, repeat=repeat, number=number)
    return statistics.median(runs) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--number", type=int, default=100)
    args = parser.parse_args()

    procedure = ProcedureFacts(T0, 7, frozenset({K.numbness}))
    earlier = _earlier()
    report = ReportFacts(
        T0 + timedelta(hours=31),
        pain_score=6,
        relief_percent=None,
        temperature_c=38.4,
        side_effects={K.leg_weakness: S.moderate, K.soreness: S.mild, K.chills: S.mild},
    )
    quiet = ReportFacts(
        T0 + timedelta(hours=31), 5, None, 36.9, {K.leg_warmth: S.mild, K.nausea: S.mild}
    )
    for version, rules in RULE_SETS.items():
        findings = evaluate(report, procedure, earlier, rules)
        print(f"version {version} fires: {[f.rule_id for f in findings]}")

        def full(rules: RuleSet = rules) -> object:
            found = evaluate(report, procedure, earlier, rules)
            return guidance_for(found, report, procedure, rules)

        cases: list[tuple[str, Callable[[], object]]] = [
            (
                "evaluate (3 side effects, 10 earlier)",
                lambda rules=rules: evaluate(report, procedure, earlier, rules),
            ),
            ("evaluate + guidance_for", full),
            (
                "evaluate, nothing fires",
                lambda rules=rules: evaluate(quiet, procedure, earlier, rules),
            ),
        ]
        for name, call in cases:
            median = _median_us(call, args.repeat, args.number)
            print(f"v{version} {name:<40} median {median:7.2f} us per call")


if __name__ == "__main__":
    main()
