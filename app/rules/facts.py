"""The facts the rule engine judges: one report, its procedure, and what a rule concludes.

Plain frozen values, checked once when built, so the rules themselves never meet a naive
timestamp, an unknown side-effect kind or an out-of-range score.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from app.rules.vocabulary import FindingSeverity, Severity, SideEffectKind

HOUR = timedelta(hours=1)


def _require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC)")


def _require_score(value: int, name: str, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise ValueError(f"{name} must be an integer from 0 to {high}")


@dataclass(frozen=True, slots=True)
class ReportFacts:
    """One symptom report as stored: temperature already in °C (temperature.to_celsius), blood glucose
    in mmol/L."""

    recorded_at: datetime
    pain_score: int
    relief_percent: int | None = None
    temperature_c: float | None = None
    side_effects: Mapping[SideEffectKind, Severity] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    glucose_mmol: float | None = None

    def __post_init__(self) -> None:
        _require_aware(self.recorded_at, "recorded_at")
        _require_score(self.pain_score, "pain_score", 10)
        if self.relief_percent is not None:
            _require_score(self.relief_percent, "relief_percent", 100)
        for name in ("temperature_c", "glucose_mmol"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number")
        effects = {SideEffectKind(k): Severity(v) for k, v in self.side_effects.items()}
        object.__setattr__(self, "side_effects", MappingProxyType(effects))


@dataclass(frozen=True, slots=True)
class ProcedureFacts:
    performed_at: datetime
    baseline_pain: int
    baseline_symptoms: frozenset[SideEffectKind] = frozenset()
    bilateral: bool = False  # the block's side is "bilateral"
    steroid: bool = False  # the injection included a steroid
    timezone: str = "UTC"  # the patient's (IANA name): the block's date in their words

    def __post_init__(self) -> None:
        _require_aware(self.performed_at, "performed_at")
        _require_score(self.baseline_pain, "baseline_pain", 10)
        kinds = frozenset(SideEffectKind(k) for k in self.baseline_symptoms)
        object.__setattr__(self, "baseline_symptoms", kinds)


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule that fired.

    `explanation` is for the clinician (one fact per line, hours since the block included);
    `symptoms` names, in the patient's words, what fired it, for the guidance message.
    """

    rule_id: str
    rule_version: int
    severity: FindingSeverity
    title: str
    explanation: tuple[str, ...]
    symptoms: tuple[str, ...] = ()


def hours_since_block(performed_at: datetime, at: datetime) -> float:
    """Hours from the block to `at`, exact (microsecond arithmetic, then one division): the one
    measure of time after a block, for the rules, the timeline and the charts. The API shows
    it rounded by app/rules/relief.py hours_between."""
    return (at - performed_at) / HOUR
