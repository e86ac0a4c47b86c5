"""The worker: timers, fan-out and delivery, in short transactions, as long as it runs.

`aftercare worker` runs it alone; `aftercare serve` runs it inside the API process unless
`--no-worker`. Several may run against PostgreSQL at once: each timer moves a row with a
conditional UPDATE, and deliveries are leased (see webhooks/delivery.py).
"""

import asyncio
import logging
import random
import time
import uuid
from collections import Counter

from app.audit.retention import purge_expired_audit_events
from app.core.deps import Services
from app.core.logsafe import log_failure
from app.fhir.export_worker import Exporter
from app.scheduled.service import close_missed_checkins, escalate_overdue_alerts, raise_no_relief
from app.webhooks.claiming import claim_due
from app.webhooks.delivery import Claim, Result, fan_out, record_outcomes
from app.webhooks.sender import Sender

log = logging.getLogger("aftercare.worker")
# Audit retention is counted in years: once an hour is plenty, and keeps its scan rare.
RETENTION_EVERY_SECONDS = 3600.0


class Worker:
    def __init__(
        self, services: Services, *, sender: Sender | None = None, rng: random.Random | None = None
    ) -> None:
        self.services = services
        self.settings = services.settings
        self.sender = sender or Sender(services.settings)
        self.rng = rng or random.Random()  # noqa: S311 - retry jitter, not a secret
        self._in_flight: set[asyncio.Task[None]] = set()
        self._clinic_busy: Counter[uuid.UUID] = Counter()  # sends under way, per clinic
        # Set when recorded outcomes free send slots: the loop claims again at once rather
        # than after the poll interval (an endpoint may have only a couple in flight).
        self._slots_freed = asyncio.Event()
        self._results: list[Result] = []
        self._recording: asyncio.Task[None] | None = None
        self._timers_ran_at = float("-inf")
        self._retention_ran_at = float("-inf")
        # FHIR bulk export: one batch per pass (app/fhir/export_worker.py).
        self.exporter = Exporter(services)
        # Unix time (the wall clock, not the business clock) at which the last pass completed:
        # /metrics and /readyz show it, so an operator sees a worker that has stopped passing.
        self.last_pass_at: float | None = None

    async def run_timers(self) -> int:
        now = self.services.clock.now()
        batch = self.settings.worker_batch
        done = await close_missed_checkins(self.services, now, batch=batch)
        done += await raise_no_relief(self.services, now, batch=batch)
        done += await escalate_overdue_alerts(self.services, now, batch=batch)
        done += await self.exporter.sweep(now)
        if time.monotonic() - self._retention_ran_at >= RETENTION_EVERY_SECONDS:
            self._retention_ran_at = time.monotonic()
            try:
                await purge_expired_audit_events(self.services, now)
            except Exception as exc:  # refused by the database's floor, say: the timers go on
                log_failure(log, "could not delete expired audit events", exc)
        return done

    async def run_once(self, *, timers: bool = True) -> int:
        """One pass: the timers (when asked), fan-out, and sends started for due deliveries.
        Returns how much work it found; sends go on in the background (see `settle`)."""
        found = await self.run_timers() if timers else 0
        found += await fan_out(self.services, self.services.clock.now())
        found += await self.exporter.run_batch()
        free = self.settings.worker_concurrency - len(self._in_flight)
        claims = await claim_due(
            self.services, self.services.clock.now(), limit=free, clinic_busy=self._clinic_busy
        )
        for claim in claims:
            self._clinic_busy[claim.clinic_id] += 1
            task = asyncio.create_task(self._deliver(claim))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        self.last_pass_at = time.time()
        return found + len(claims)

    async def settle(self) -> None:
        """Wait for every send under way and its recorded outcome."""
        while self._in_flight or (self._recording and not self._recording.done()):
            recording = [self._recording] if self._recording else []
            await asyncio.gather(*self._in_flight, *recording, return_exceptions=True)

    async def run_until_idle(self) -> None:
        """Work until nothing is due at the clock's present time (tests, `--once`)."""
        while await self.run_once():
            await self.settle()
        await self.settle()

    async def _deliver(self, claim: Claim) -> None:
        try:
            outcome = await self.sender.send(claim)
        finally:
            self._clinic_busy[claim.clinic_id] -= 1
            if self._clinic_busy[claim.clinic_id] <= 0:
                del self._clinic_busy[claim.clinic_id]
        self._results.append(Result(claim, outcome, self.services.clock.now()))
        if self._recording is None or self._recording.done():
            self._recording = asyncio.create_task(self._record())

    async def _record(self) -> None:
        # Outcomes that complete while one batch is being written form the next batch: one
        # transaction for many deliveries under load, no waiting when it is quiet.
        while self._results:
            batch, self._results = self._results, []
            try:
                await record_outcomes(self.services, batch, self.rng)
            except Exception as exc:
                # The leases run out and the deliveries are sent again: late, never lost.
                log_failure(log, f"could not record {len(batch)} delivery attempts", exc)
            self._slots_freed.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set; then lets sends under way finish and returns."""
        poll = self.settings.worker_poll_seconds
        written = self.services.db.outbox_written
        while not stop.is_set():
            written.clear()  # before the pass, which then sees whatever set it
            self._slots_freed.clear()
            try:
                timers_due = time.monotonic() - self._timers_ran_at >= poll
                if timers_due:
                    self._timers_ran_at = time.monotonic()
                found = await self.run_once(timers=timers_due)
            except Exception as exc:
                log_failure(log, "worker pass failed; trying again after the poll interval", exc)
                found = 0
            if len(self._in_flight) >= self.settings.worker_concurrency:
                # Claim again once half the slots are free: fewer, larger claims.
                while len(self._in_flight) > self.settings.worker_concurrency // 2:
                    await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)
            elif not found:
                await _first_of(stop, written, self._slots_freed, seconds=poll)
        await self.settle()

    async def aclose(self) -> None:
        await self.settle()
        await self.sender.aclose()


async def _first_of(*events: asyncio.Event, seconds: float) -> None:
    """Until one of the events is set, or `seconds` pass."""
    waiters = [asyncio.create_task(e.wait()) for e in events]
    await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for waiter in waiters:
        waiter.cancel()
