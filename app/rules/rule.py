"""One rule of a rule set: a row of a table in docs/clinical-rules.md, as data."""

from dataclasses import dataclass
from typing import Literal

from app.rules.conditions import Condition, HoursWindow, NoReliefBy
from app.rules.explain import number
from app.rules.vocabulary import FindingSeverity

RuleSource = Literal["report", "clock", "scheduler"]


@dataclass(frozen=True, slots=True)
class Rule:
    """`id` is stable across versions (the API exposes it); `version` changes with the
    condition or with what its alert says."""

    id: str
    version: int
    severity: FindingSeverity
    title: str
    description: str
    when: Condition | NoReliefBy | None  # None: raised by the check-in scheduler

    @property
    def source(self) -> RuleSource:
        if isinstance(self.when, Condition):
            return "report"
        return "clock" if isinstance(self.when, NoReliefBy) else "scheduler"


def hours(value: float) -> str:
    """A threshold in a description: 6.0 -> '6'."""
    return number(value)


def after(value: float) -> HoursWindow:
    return HoursWindow(">", value)
