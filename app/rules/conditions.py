"""The building blocks a rule's condition is written in, and how each one is judged.

A condition is data (frozen dataclasses, so the rule set reads like red-flags.md's table);
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
    hours_text,
    label,
    number,
    temperature_text,
    utc_text,
    with_severity,
)
from app.rules.facts import ProcedureFacts, ReportFacts, hours_since_block
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
        self.hours = hours_since_block(report.recorded_at, procedure)
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
class Window:
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


class Condition(ABC):
    __slots__ = ()

    @abstractmethod
    def match(self, ctx: Context) -> tuple[Hit, ...]: ...


@dataclass(frozen=True, slots=True)
class Has(Condition):
    """Any of `kinds` at `at_least` or worse, optionally within a window of hours.

    `unless_in_baseline`: only when the procedure's baseline symptoms do not list the kind.
    `note`: the threshold in words ('{hours}' is replaced by the window's hours); by default
    it is made from the severity and the window.
    """

    kinds: tuple[SideEffectKind, ...]
    at_least: Severity = Severity.mild
    window: Window | None = None
    unless_in_baseline: bool = False
    note: str = ""

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
    """temperature_c >= celsius (the stored °C, as to_celsius made it)."""

    celsius: float

    def match(self, ctx: Context) -> tuple[Hit, ...]:
        t = ctx.report.temperature_c
        if t is None or t < self.celsius:
            return ()
        text = f"temperature {temperature_text(t)}"
        symptom = f"a temperature of {temperature_text(t)}"
        return (Hit(text, f"threshold {self.celsius:.1f} °C", (symptom,)),)


@dataclass(frozen=True, slots=True)
class PainScore(Condition):
    at_least: int

    def match(self, ctx: Context) -> tuple[Hit, ...]:
        pain = ctx.report.pain_score
        if pain < self.at_least:
            return ()
        text = f"pain score {pain}/10"
        return (Hit(text, f"threshold {self.at_least}/10", (text,)),)


@dataclass(frozen=True, slots=True)
class PainAboveBaseline(Condition):
    """pain_score >= baseline_pain + by, optionally within a window.

    `note` ('{hours}' filled in) replaces the window's description in the explanation.
    """

    by: int
    window: Window | None = None
    note: str = ""

    def match(self, ctx: Context) -> tuple[Hit, ...]:
        if self.window is not None and not self.window.admits(ctx.hours):
            return ()
        pain, baseline = ctx.report.pain_score, ctx.procedure.baseline_pain
        if pain < baseline + self.by:
            return ()
        text = f"pain score {pain}/10, baseline {baseline}/10 (+{pain - baseline})"
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
    literally, red-flags.md would call that weakness "come back" and send them to emergency).
    """

    kind: SideEffectKind
    window: Window | None = None
    outranked_by: SideEffectKind | None = None

    def match(self, ctx: Context) -> tuple[Hit, ...]:
        if self.window is not None and not self.window.admits(ctx.hours):
            return ()
        severity = ctx.effects.get(self.kind)
        if severity is None:
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
        prev_at = previous[0].recorded_at
        when = f"recorded {utc_text(prev_at)}, {hours_text(hours_since_block(prev_at, ctx.procedure))} after the block"
        name = with_severity(self.kind, severity)
        symptoms = (for_patient(self.kind, severity),)
        if before is None:
            return (Hit(name, f"the previous report ({when}) had none", symptoms),)
        phrase = f"{label(self.kind)} now {severity.value}"
        return (Hit(phrase, f"was {before.value} in the previous report ({when})", symptoms),)


def _merge(groups: Sequence[tuple[Hit, ...]], extra: str) -> Hit:
    phrase = " together with ".join(" and ".join(h.phrase for h in hits) for hits in groups)
    notes: list[str] = []
    for hits in groups:
        for h in hits:
            if h.note and h.note not in notes:
                notes.append(h.note)
    if extra:
        notes.append(extra)
    symptoms = tuple(s for hits in groups for h in hits for s in h.symptoms)
    return Hit(phrase, "; ".join(notes), symptoms)


@dataclass(frozen=True, slots=True)
class AllOf(Condition):
    """Every part holds (within the window, if any): one combined hit."""

    parts: tuple[Condition, ...]
    window: Window | None = None

    def match(self, ctx: Context) -> tuple[Hit, ...]:
        if self.window is not None and not self.window.admits(ctx.hours):
            return ()
        groups: list[tuple[Hit, ...]] = []
        for part in self.parts:
            hits = part.match(ctx)
            if not hits:
                return ()
            groups.append(hits)
        return (_merge(groups, self.window.describe() if self.window else ""),)


@dataclass(frozen=True, slots=True)
class AnyOf(Condition):
    """At least one part holds: every part that holds is reported."""

    parts: tuple[Condition, ...]

    def match(self, ctx: Context) -> tuple[Hit, ...]:
        hits: tuple[Hit, ...] = ()
        for part in self.parts:
            found = part.match(ctx)
            if found:
                hits += found
        return hits


@dataclass(frozen=True, slots=True)
class NoReliefBy:
    """Clock-driven (see engine.no_relief_due): by `hours`, no report reached `relief_percent`."""

    hours: float
    relief_percent: int
