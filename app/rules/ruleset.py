"""The rule sets a clinic can run: version 1 and version 2 (docs/clinical-rules.md).

A rule set is data: its rules (rules_v1.py, rules_v2.py; a rule both share is one object), the
effects it calls expected (expected.py), and how long it waits before calling a block without
relief negative. The engine judges a report with the rule set it is given; which one is the
clinic's choice (`clinics.rule_set_version`).
"""

from dataclasses import dataclass, field
from typing import Annotated

from pydantic import AfterValidator, Field

from app.rules import expected, rules_v1, rules_v2
from app.rules.conditions import Condition, Kinds, NoReliefBy
from app.rules.expected import ExpectedEffect
from app.rules.rule import Rule
from app.rules.thresholds import NEGATIVE_AFTER_HOURS, STEROID_NEGATIVE_AFTER_HOURS
from app.rules.vocabulary import FINDING_SEVERITY_RANK


@dataclass(frozen=True, slots=True)
class RuleSet:
    version: int
    rules: tuple[Rule, ...]
    expected: tuple[ExpectedEffect, ...]
    steroid_negative_after_hours: float  # a steroid's relief starts later (version 2: 72 h)
    steroid_glucose_advice: str | None  # told with a normal blood glucose after a steroid block
    # The rules a report is judged by, in the order findings are returned: emergency, urgent,
    # routine, then the table's order (sorted() is stable); each with the kinds it needs.
    report_rules: tuple[tuple[Rule, Condition, Kinds | None], ...] = field(init=False)
    by_id: dict[str, Rule] = field(init=False)

    def __post_init__(self) -> None:
        judged = [
            (rule, rule.when, rule.when.needs())
            for rule in self.rules
            if isinstance(rule.when, Condition)
        ]
        ordered = tuple(sorted(judged, key=lambda pair: FINDING_SEVERITY_RANK[pair[0].severity]))
        object.__setattr__(self, "report_rules", ordered)
        object.__setattr__(self, "by_id", {rule.id: rule for rule in self.rules})

    def negative_after_hours(self, steroid: bool) -> float:
        """How long after the block a report without relief makes the block negative."""
        return self.steroid_negative_after_hours if steroid else NEGATIVE_AFTER_HOURS

    def no_relief_rule(self) -> tuple[Rule, NoReliefBy]:
        rule = self.by_id["no_relief"]
        if not isinstance(rule.when, NoReliefBy):  # pragma: no cover - a broken rule set
            raise TypeError("the no_relief rule must be a NoReliefBy condition")
        return rule, rule.when


VERSION_1 = RuleSet(
    version=1,
    rules=rules_v1.VERSION_1,
    expected=expected.VERSION_1,
    steroid_negative_after_hours=NEGATIVE_AFTER_HOURS,
    steroid_glucose_advice=None,
)
VERSION_2 = RuleSet(
    version=2,
    rules=rules_v2.VERSION_2,
    expected=expected.VERSION_2,
    steroid_negative_after_hours=STEROID_NEGATIVE_AFTER_HOURS,
    steroid_glucose_advice=expected.STEROID_GLUCOSE_ADVICE,
)

RULE_SETS: dict[int, RuleSet] = {rules.version: rules for rules in (VERSION_1, VERSION_2)}
RULE_SET_VERSIONS: tuple[int, ...] = tuple(RULE_SETS)
LATEST_RULE_SET_VERSION = max(RULE_SET_VERSIONS)


def _known_rule_set(version: int) -> int:
    if version not in RULE_SET_VERSIONS:
        raise ValueError(f"unknown rule set version; use one of {RULE_SET_VERSIONS}")
    return version


# A clinical rule set's version, as a request names it (a body field or a query parameter).
RuleSetVersion = Annotated[
    int,
    AfterValidator(_known_rule_set),
    Field(json_schema_extra={"enum": list(RULE_SET_VERSIONS)}),
]


def rule_set(version: int) -> RuleSet:
    """The rule set of that version; KeyError for a version that does not exist."""
    return RULE_SETS[version]


def public_rules(rules: RuleSet) -> list[dict[str, str | int]]:
    """The rule set as GET /v1/rules shows it, in table order."""
    return [
        {
            "id": r.id,
            "version": r.version,
            "severity": r.severity,
            "title": r.title,
            "description": r.description,
        }
        for r in rules.rules
    ]
