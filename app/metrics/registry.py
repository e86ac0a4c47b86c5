"""What /metrics exposes, one registry per app (create_app), never the process-wide default:
every app a test makes counts on its own, and two apps in one process never clash.

Every label takes values from a finite set: route templates (never a path with an id in it),
HTTP methods and statuses, rule ids and severities from the rule sets, delivery outcomes.
No clinic, patient or any other id is ever a label value.

Events are counted once their transaction has committed: services note them on the session
(`app.core.db.count_on_commit`) and the Database hands them to `count_committed` after the
commit, so a rolled-back report or a failed batch counts nothing. An event name is a
`CountedEvent` (mypy refuses a misspelt one); one that is not known here anyway raises
`UnknownEvent`, which the Database logs (by type) without undoing the commit.
"""

import time
from collections.abc import Callable, Iterable, Sequence
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.core.db import Counted, CountedEvent

# The label of requests no route matched (a 404 for any path): one series, whatever the path.
UNMATCHED = "<unmatched>"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
ATTEMPT_OUTCOMES = ("delivered", "will_retry", "gave_up", "lease_expired")
# Seconds, from a cached read (a few ms) to the slowest export or chart we expect.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class UnknownEvent(LookupError):
    """A noted event no counter is named after (a `# type: ignore` or a dynamic name)."""


class _WorkerHeartbeat(Collector):
    """The in-process worker's last completed pass, read when scraped. No sample while there
    is no such worker (`serve --no-worker`) or before its first pass."""

    def __init__(self) -> None:
        self.last_pass_at: Callable[[], float | None] = lambda: None

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "aftercare_worker_last_pass_timestamp_seconds",
            "Unix time at which this process's worker last completed a pass.",
        )
        if (at := self.last_pass_at()) is not None:
            family.add_metric([], at)
        yield family

    def describe(self) -> Iterable[Metric]:
        return self.collect()


class Metrics:
    """With `database_gauges=False` (a worker's own registry) the gauges /metrics reads
    from the database are left out: nothing there would set them, and a 0 would read as
    "no lag" when it means "not measured here"."""

    def __init__(self, *, database_gauges: bool = True) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "aftercare_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "aftercare_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.reports_stored = Counter(
            "aftercare_reports_stored", "Symptom reports stored (replays not counted).", registry=r
        )
        self.alerts_raised = Counter(
            "aftercare_alerts_raised",
            "Alerts created, by rule and severity (re-triggers of an open alert not counted).",
            ["rule_id", "severity"],
            registry=r,
        )
        self.alerts_escalated = Counter(
            "aftercare_alerts_escalated",
            "Alerts escalated for want of acknowledgement, by severity.",
            ["severity"],
            registry=r,
        )
        self.checkins_missed = Counter(
            "aftercare_checkins_missed", "Check-in windows that closed unanswered.", registry=r
        )
        self.webhook_attempts = Counter(
            "aftercare_webhook_attempts",
            "Webhook delivery attempts recorded, by outcome: delivered, will_retry, gave_up "
            "(a 410 or past the retry period), lease_expired (recorded after another worker "
            "took the delivery over).",
            ["outcome"],
            registry=r,
        )
        for outcome in ATTEMPT_OUTCOMES:  # every outcome present from the start, at 0
            self.webhook_attempts.labels(outcome)
        # Unregistered without database_gauges: setting them is harmless, showing them is not.
        gauges = r if database_gauges else None
        self.outbox_lag = Gauge(
            "aftercare_outbox_lag_seconds",
            "Age of the oldest outbox event not yet fanned out to webhook deliveries; 0 when "
            "there is none. Read from the database when scraped.",
            registry=gauges,
        )
        self.escalation_overdue = Gauge(
            "aftercare_escalation_overdue_seconds",
            "How long past its deadline the most overdue alert escalation is; 0 when none is. "
            "Read from the database when scraped: it grows when no worker runs anywhere.",
            registry=gauges,
        )
        self._heartbeat = _WorkerHeartbeat()
        r.register(self._heartbeat)
        self._by_name: dict[CountedEvent, Callable[[Sequence[str]], None]] = {
            "report_stored": lambda _: self.reports_stored.inc(),
            "alert_raised": lambda labels: self.alerts_raised.labels(*labels).inc(),
            "alert_escalated": lambda labels: self.alerts_escalated.labels(*labels).inc(),
            "checkin_missed": lambda _: self.checkins_missed.inc(),
            "webhook_attempt": lambda labels: self.webhook_attempts.labels(*labels).inc(),
        }
        # A name added to CountedEvent without a counter here fails every app's start.
        assert set(self._by_name) == set(get_args(CountedEvent)), "a CountedEvent uncounted"

    def count_committed(self, counted: list[Counted]) -> None:
        """A Database commit listener (create_app adds it). An unknown name raises once the
        known ones are counted; the Database logs it, and the commit stands."""
        unknown = [name for name, _ in counted if name not in self._by_name]
        for name, labels in counted:
            if name in self._by_name:
                self._by_name[name](labels)
        if unknown:
            raise UnknownEvent(f"no counter for {sorted(set(unknown))}")

    def observe_request(self, method: str, route: str, status: int, started: float) -> None:
        method = method if method in KNOWN_METHODS else "other"
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(time.perf_counter() - started)

    def watch_worker(self, last_pass_at: Callable[[], float | None]) -> None:
        self._heartbeat.last_pass_at = last_pass_at

    def worker_last_pass_at(self) -> float | None:
        return self._heartbeat.last_pass_at()

    def render(self) -> bytes:
        return generate_latest(self.registry)
