"""Replaying stored reports through two rule sets, exactly as the live path judged them, in
one pass and without the database (service.py streams the rows in).

Rows arrive block by block, each block's in (recorded_at, id) order, from the block's first
report on: a report's "previous report" (app/rules/conditions.py Context.previous) may have
been recorded before the window, so those rows are read but not judged. As when a report is
stored (app/reports/judging.py `neighbours`), the rules see every report sharing the latest
recorded_at strictly before this one's.
"""

import heapq
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from app.reports.judging import facts_of
from app.rules.engine import ProcedureFacts, ReportFacts, evaluate, guidance_for
from app.rules.guidance import GuidanceLevel
from app.rules.relief import hours_between
from app.rules.ruleset import RuleSet

RawReport = tuple[object, ...]  # facts_of's arguments, as the statement selects them


class BlockInfo(NamedTuple):
    id: uuid.UUID
    patient_id: uuid.UUID
    sequence_number: int
    facts: ProcedureFacts


class Verdict(NamedTuple):
    rules: tuple[str, ...]  # most severe first, as evaluate() returns them
    level: GuidanceLevel


class Change(NamedTuple):
    recorded_at: datetime  # with report_id, the page's sort key: first
    report_id: uuid.UUID
    block: BlockInfo
    hours: float
    now: Verdict
    candidate: Verdict


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _descending(change: Change) -> tuple[int, int]:
    """The page's sort key (recorded_at, report_id), negated exactly (integers): a heap of
    these has the latest change on top."""
    return -((change.recorded_at - _EPOCH) // _MICROSECOND), -change.report_id.int


@dataclass
class Tally:
    reports_judged: int = 0
    blocks: int = 0
    reports_changed: int = 0
    # rule id -> [added, removed, unchanged] alerts, an alert being one (block, rule) pair
    alerts: dict[str, list[int]] = field(default_factory=dict)
    matrix: Counter[tuple[GuidanceLevel, GuidanceLevel]] = field(default_factory=Counter)
    # Of the changes after the cursor, only the `keep` earliest by (recorded_at, report_id):
    # a heap with the latest of them on top, so memory is O(keep) however long the history
    # (None keeps every one: the command line lists them all unless --limit).
    keep: int | None = None
    _kept: list[tuple[int, int, Change]] = field(default_factory=list)

    def add_change(self, change: Change) -> None:
        entry = (*_descending(change), change)
        if self.keep is None or len(self._kept) < self.keep:
            heapq.heappush(self._kept, entry)
        elif entry > self._kept[0]:  # earlier than the latest kept (report ids are unique)
            heapq.heapreplace(self._kept, entry)

    def changes(self) -> list[Change]:
        """The kept changes, oldest first."""
        return [change for *_, change in sorted(self._kept, reverse=True)]


class Replay:
    """`feed` it the history's rows (or `start_block`, then that block's `report`s in order),
    then `finish`."""

    def __init__(
        self,
        current: RuleSet,
        candidate: RuleSet,
        *,
        since: datetime | None,
        after: tuple[datetime, uuid.UUID] | None = None,
        keep: int | None = None,
    ) -> None:
        self.current = current
        self.candidate = candidate
        self.since = since
        self.after = after  # the page cursor: only later changes are kept
        self.tally = Tally(keep=keep)  # and only the `keep` earliest of those
        self._block: BlockInfo | None = None
        self._at: datetime | None = None
        # The reports of the latest instant seen, and of the one before it (the "previous
        # report" of the latest): facts, or the raw row while nobody needed its facts.
        self._group: list[ReportFacts | RawReport] = []
        self._previous: list[ReportFacts | RawReport] = []
        self._previous_facts: list[ReportFacts] | None = None
        self._raised_now: set[str] = set()
        self._raised_candidate: set[str] = set()
        self._judged = False  # the block has a report in the window

    def feed(self, rows: Iterable[Sequence[Any]], blocks: Mapping[uuid.UUID, BlockInfo]) -> None:
        """Rows of (procedure_id, report_id, *facts_of's arguments), in the history's order."""
        for procedure_id, report_id, *raw in rows:
            if self._block is None or procedure_id != self._block.id:
                block = blocks.get(procedure_id)
                if block is None:  # a block whose first report arrived after blocks were read
                    continue
                self.start_block(block)
            self.report(report_id, raw[0], tuple(raw))

    def start_block(self, block: BlockInfo) -> None:
        self._close_block()
        self._block = block
        self._at, self._group, self._previous, self._previous_facts = None, [], [], None
        self._judged = False

    def report(self, report_id: uuid.UUID, recorded_at: datetime, raw: RawReport) -> None:
        if recorded_at != self._at:
            self._previous, self._previous_facts = self._group, None
            self._group, self._at = [], recorded_at
        if self.since is not None and recorded_at < self.since:
            self._group.append(raw)  # only ever someone's previous report
            return
        facts = facts_of(*raw)  # type: ignore[arg-type]  # the statement's column types
        self._group.append(facts)
        self._judge(report_id, facts)

    def finish(self) -> Tally:
        self._close_block()
        self._block = None
        return self.tally

    def _earlier(self) -> list[ReportFacts]:
        if self._previous_facts is None:
            self._previous_facts = [
                r if isinstance(r, ReportFacts) else facts_of(*r)  # type: ignore[arg-type]
                for r in self._previous
            ]
        return self._previous_facts

    def _verdict(
        self, rules: RuleSet, facts: ReportFacts, earlier: Sequence[ReportFacts]
    ) -> Verdict:
        assert self._block is not None
        findings = evaluate(facts, self._block.facts, earlier, rules)
        guidance = guidance_for(findings, facts, self._block.facts, rules)
        return Verdict(tuple(f.rule_id for f in findings), guidance.level)

    def _judge(self, report_id: uuid.UUID, facts: ReportFacts) -> None:
        block = self._block
        assert block is not None
        earlier = self._earlier()
        now = self._verdict(self.current, facts, earlier)
        candidate = self._verdict(self.candidate, facts, earlier)
        self._judged = True
        tally = self.tally
        tally.reports_judged += 1
        tally.matrix[now.level, candidate.level] += 1
        self._raised_now.update(now.rules)
        self._raised_candidate.update(candidate.rules)
        if now.level == candidate.level and set(now.rules) == set(candidate.rules):
            return
        tally.reports_changed += 1
        at = facts.recorded_at
        if self.after is None or (at, report_id) > self.after:
            hours = hours_between(block.facts.performed_at, at)  # rounded as the API rounds
            tally.add_change(Change(at, report_id, block, hours, now, candidate))

    def _close_block(self) -> None:
        """The block's alerts: a rule raised by any judged report of it is one alert."""
        if self._block is None:
            return
        if self._judged:
            self.tally.blocks += 1
        for rule_id in self._raised_now | self._raised_candidate:
            counts = self.tally.alerts.setdefault(rule_id, [0, 0, 0])
            if rule_id not in self._raised_now:
                counts[0] += 1
            elif rule_id not in self._raised_candidate:
                counts[1] += 1
            else:
                counts[2] += 1
        self._raised_now, self._raised_candidate = set(), set()
        self._judged = False
