"""The building blocks a rule's condition is written in, and how each one is judged.

A condition is data (frozen dataclasses, so a rule set reads like its table in docs/clinical-rules.md);
`match` returns the facts that satisfied it as `Hit`s, or `()` when it does not hold. The
explanation lines of a finding are made from those hits, so they always state exactly what
fired the rule, with the threshold it crossed.
"""

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from app.rules.explain import (
    SEVERITY_WORDS,
    for_patient,
    glucose_text,
    hours_text,
    label,
    number,
    utc_text,
    with_severity,
)
from app.rules.facts import ProcedureFacts, ReportFacts, hours_since_block
from app.rules.temperature import temperature_text
from app.rules.vocabulary import SEVERITY_RANK, Severity, SideEffectKind


class Hit(NamedTuple):
    phrase: str  # what the report shows: "leg weakness (severe)"
    note: str  # the threshold or comparison: "expected to wear off by 12 h"
    symptoms: tuple[str, ...]  # for the patient's guidance message


class Context:
    """One evaluation: the report, its procedure, the hours since the block, earlier reports."""

    __slots__ = ("_earlier", "_previous", "effects", "hours", "procedure", "report")

    def __init__(
        self, report: ReportFacts, procedure: ProcedureFacts, earlier: Sequence[ReportFacts]
    ) -> None:
        self.report = report
        self.procedure = procedure
        self.effects: Mapping[SideEffectKind, Severity] = report.side_effects
        self.hours = hours_since_block(procedure.performed_at, report.recorded_at)
        self._earlier = earlier
        self._previous: tuple[ReportFacts, ...] | None = None

    def previous(self) -> tuple[ReportFacts, ...]:
        """The procedure's previous report: the latest `recorded_at` strictly before this one's.

        Reports in `earlier` that are not before this one are ignored, so the answer does not
        depend on upload order. Several reports may share that latest timestamp; all of them
        are returned and the caller decides (see WorseThanPrevious).
        """
        if self._previous is None:
            at = self.report.recorded_at
            before = [r for r in self._earlier if r.recorded_at < at]
            if before:
                latest = max(r.recorded_at for r in before)
                self._previous = tuple(r for r in before if r.recorded_at == latest)
            else:
                self._previous = ()
        return self._previous


@dataclass(frozen=True, slots=True)
class HoursWindow:
    """A bound on the hours since the block: '>' 12 is 'more than 12 h' (12.0 h does not count)."""

    op: Literal[">", ">=", "<="]
    hours: float

    def admits(self, hours: float) -> bool:
        if self.op == ">":
            return hours > self.hours
        if self.op == ">=":
            return hours >= self.hours
        return hours <= self.hours

    def describe(self) -> str:
        h = number(self.hours)
        if self.op == ">":
            return f"applies after {h} h"
        if self.op == ">=":
            return f"applies from {h} h"
        return f"applies up to {h} h"


def _note(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


Kinds = frozenset[SideEffectKind]


class Condition(ABC):
    __slots__ = ()

    @abstractmethod
    def match(self, ctx: Context) -> tuple[Hit, ...]: ...

    def needs(self) -> Kinds | None:
        """Side-effect kinds of which a report must list at least one for this to hold; None
        when it can hold without any (a temperature, a pain score, a glucose)."""
        return None


@dataclass(frozen=True, slots=True)
class Has(Condition):
    """Any of `kinds` at `at_least` or worse, optionally within a window of hours.

    `unless_in_baseline`: only when the procedure's baseline symptoms do not list the kind.
    `note`: the threshold in words ('{hours}' is replaced by the window's hours); by default
    it is made from the severity and the window.
    """

    kinds: tuple[SideEffectKind, ...]
    at_least: Severity = Severity.mild
    window: HoursWindow | None = None
    unless_in_baseline: bool = False
    note: str = ""

    def needs(self) -> Kinds:
        return frozenset(self.kinds)

    def match(self, ctx: Context) -> tuple[Hit, ...]:
        if self.window is not None and not self.window.admits(ctx.hours):
            return ()
        floor = SEVERITY_RANK[self.at_least]
        hits: list[Hit] = []
        for kind in self.kinds:
            severity = ctx.effects.get(kind)
            if severity is None or SEVERITY_RANK[severity] < floor:
                continue
            if self.unless_in_baseline and kind in ctx.procedure.baseline_symptoms:
                continue
            text = with_severity(kind, severity)
            hits.append(Hit(text, self._note(), (for_patient(kind, severity),)))
        return tuple(hits)

    def _note(self) -> str:
        if self.note:
            hours = number(self.window.hours) if self.window else ""
            return self.note.format(hours=hours)
        severity = (
            "" if self.at_least == Severity.mild else f"threshold {SEVERITY_WORDS[self.at_least]}"
        )
        baseline = "not listed before the block" if self.unless_in_baseline else ""
        window = self.window.describe() if self.window else ""
        return _note(severity, window, baseline)


@dataclass(frozen=True, slots=True)
class Fever(Condition):
    """temperature_c >= celsius (the stored °C, as temperature.to_celsius made it)."""

    celsius: float

    def match(self, ctx: Context) -> tuple[Hit, ...]:
        t = ctx.report.temperature_c
        if t is None or t < self.celsius:
            return ()
        text = f"temperature {temperature_text(t)}"
        symptom = f"a temperature of {temperature_text(t)}"
        return (Hit(text, f"threshold {self.celsius:.1f} °C", (symptom,)),)


@dataclass(frozen=True, slots=True)
class Glucose(Condition):
    """glucose_mmol >= mmol (the stored mmol/L); with `below`, glucose_mmol < mmol."""

    mmol: float
    below: bool = False

    def match(self, ctx: Context) -> tuple[Hit, ...]:
        value = ctx.report.glucose_mmol
        if value is None or (value < self.mmol) != self.below:
            return ()
        text = glucose_text(value)
        note = f"{'below' if self.below else 'threshold'} {glucose_text(self.mmol)}"
        return (Hit(f"blood glucose {text}", note, (f"a blood sugar of {text}",)),)


@dataclass(frozen=True, slots=True)
class PainScore(Condition):
    """pain_score >= at_least. `name_baseline`: the phrase also gives the baseline and the rise
    (version 2, where pain 10 is no longer a pain_flare too, which used to say them)."""

    at_least: int
    name_baseline: bool = False

    def match(self, ctx: Context) -> tuple[Hit, ...]:
        pain = ctx.report.pain_score
        if pain < self.at_least:
            return ()
        text = f"pain score {pain}/10"
        if self.name_baseline:
            text = _with_baseline(pain, ctx.procedure.baseline_pain)
        return (Hit(text, f"threshold {self.at_least}/10", (f"pain score {pain}/10",)),)


def _with_baseline(pain: int, baseline: int) -> str:
    rise = pain - baseline
    return f"pain score {pain}/10, baseline {baseline}/10 ({rise:+d})"


@dataclass(frozen=True, slots=True)
class PainAboveBaseline(Condition):
    """pain_score >= baseline_pain + by, optionally within a window.

    `note` ('{hours}' filled in) replaces the window's description in the explanation.
    """

    by: int
    window: HoursWindow | None = None
    note: str = ""
    at_most: int = 10  # version 2's pain_flare stops at 9: pain 10 is pain_escalation alone

    def match(self, ctx: Context) -> tuple[Hit, ...]:
        if self.window is not None and not self.window.admits(ctx.hours):
            return ()
        pain, baseline = ctx.report.pain_score, ctx.procedure.baseline_pain
        if pain < baseline + self.by or pain > self.at_most:
            return ()
        text = _with_baseline(pain, baseline)
        hours = number(self.window.hours) if self.window else ""
        when = self.note.format(hours=hours) if self.note else ""
        if not when and self.window:
            when = self.window.describe()
        note = _note(f"threshold +{self.by}", when)
        return (Hit(text, note, (f"pain score {pain}/10",)),)


@dataclass(frozen=True, slots=True)
class WorseThanPrevious(Condition):
    """`kind` more severe than in the previous report, or present when that report had none.

    Needs a previous report: a first report has nothing to be worse than. When several
    reports share the previous timestamp, the mildest of them is the comparison (the rule
    fires if this report is worse than any of them), which keeps the verdict independent of
    their order. A previous report listing `outranked_by` counts as beyond severe: a patient
    who could not walk and now reports mild leg weakness is recovering, not worsening (read
    literally, the rule would call that weakness "come back" and send them to emergency).
    """

    kind: SideEffectKind
    window: HoursWindow | None = None
    outranked_by: SideEffectKind | None = None
    at_least: Severity = Severity.mild  # this report's severity
    from_none: bool = True  # fires when the previous report had none
    only_if_baseline: bool = False  # only when the baseline symptoms list the kind

    def needs(self) -> Kinds:
        return frozenset((self.kind,))

    def match(self, ctx: Context) -> tuple[Hit, ...]:
        if self.window is not None and not self.window.admits(ctx.hours):
            return ()
        severity = ctx.effects.get(self.kind)
        if severity is None or SEVERITY_RANK[severity] < SEVERITY_RANK[self.at_least]:
            return ()
        if self.only_if_baseline and self.kind not in ctx.procedure.baseline_symptoms:
            return ()
        previous = ctx.previous()
        if not previous:
            return ()
        before: Severity | None = None
        beyond_severe = True
        for report in previous:
            if self.outranked_by is not None and self.outranked_by in report.side_effects:
                continue
            beyond_severe = False
            other = report.side_effects.get(self.kind)
            if other is None:
                before = None
                break
            if before is None or SEVERITY_RANK[other] < SEVERITY_RANK[before]:
                before = other
        if beyond_severe or (
            before is not None and SEVERITY_RANK[before] >= SEVERITY_RANK[severity]
        ):
            return ()
        if before is None and not self.from_none:
            return ()
        prev_at = previous[0].recorded_at
        after = hours_text(hours_since_block(ctx.procedure.performed_at, prev_at))
        when = f"recorded {utc_text(prev_at)}, {after} after the block"
        name = with_severity(self.kind, severity)
        symptoms = (for_patient(self.kind, severity),)
        if before is None:
            return (Hit(name, f"the previous report ({when}) had none", symptoms),)
        phrase = f"{label(self.kind)} now {severity.value}"
        baseline = "; listed before the block" if self.only_if_baseline else ""
        note = f"was {before.value} in the previous report ({when}){baseline}"
        return (Hit(phrase, note, symptoms),)


@dataclass(frozen=True, slots=True)
class NoReliefBy:
    """Clock-driven (see engine.no_relief_due): by `hours`, no report reached `relief_percent`."""

    hours: float
    relief_percent: int
