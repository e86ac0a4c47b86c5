"""Conditions made of other conditions: all of, any of, the first of, one unless another, and
one that only holds after a one-sided block."""

from collections.abc import Sequence
from dataclasses import dataclass

from app.rules.conditions import Condition, Context, Hit, HoursWindow, Kinds


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
    window: HoursWindow | None = None

    def needs(self) -> Kinds | None:
        # Every part must hold, so any part's need is the whole's; the narrowest filters most.
        needed = [n for n in (part.needs() for part in self.parts) if n is not None]
        return min(needed, key=len) if needed else None

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

    def needs(self) -> Kinds | None:
        return _either(self.parts)

    def match(self, ctx: Context) -> tuple[Hit, ...]:
        hits: tuple[Hit, ...] = ()
        for part in self.parts:
            found = part.match(ctx)
            if found:
                hits += found
        return hits


def _either(parts: tuple[Condition, ...]) -> Kinds | None:
    """What one of several parts needs: any of their kinds, unless a part needs none."""
    needs = [part.needs() for part in parts]
    if any(n is None for n in needs):
        return None
    return frozenset().union(*(n for n in needs if n is not None))


def _noted(hit: Hit, note: str) -> Hit:
    return hit._replace(note=f"{hit.note}; {note}" if hit.note else note)


@dataclass(frozen=True, slots=True)
class FirstOf(Condition):
    """The first part that holds, alone: an explanation that names one arm once, not every arm
    that happens to hold too."""

    parts: tuple[Condition, ...]

    def needs(self) -> Kinds | None:
        return _either(self.parts)

    def match(self, ctx: Context) -> tuple[Hit, ...]:
        for part in self.parts:
            found = part.match(ctx)
            if found:
                return found
        return ()


@dataclass(frozen=True, slots=True)
class Unless(Condition):
    """`condition` holds and `unless` does not; `note` says what was absent."""

    condition: Condition
    unless: Condition
    note: str

    def needs(self) -> Kinds | None:
        return self.condition.needs()

    def match(self, ctx: Context) -> tuple[Hit, ...]:
        hits = self.condition.match(ctx)
        if not hits or self.unless.match(ctx):
            return ()
        return tuple(_noted(h, self.note) for h in hits)


@dataclass(frozen=True, slots=True)
class OneSidedBlock(Condition):
    """`condition` holds and the block was not bilateral."""

    condition: Condition

    def needs(self) -> Kinds | None:
        return self.condition.needs()

    def match(self, ctx: Context) -> tuple[Hit, ...]:
        if ctx.procedure.bilateral:
            return ()
        hits = self.condition.match(ctx)
        return tuple(_noted(h, "after a one-sided block") for h in hits)
