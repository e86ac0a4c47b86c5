"""`aftercare worker --metrics-port`: a worker in its own process serves its own counters and
heartbeat on loopback (the API's /metrics cannot see another process's counters)."""

import asyncio
from pathlib import Path

import httpx
import pytest

from app.core.migrations import upgrade
from tests.test_worker_processes import Processes, free_port, wait_until

HEARTBEAT = "aftercare_worker_last_pass_timestamp_seconds"


def heartbeat(port: int) -> float | None:
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return None
    samples = [line for line in text.splitlines() if line.startswith(HEARTBEAT + " ")]
    return float(samples[0].split()[1]) if samples else None


@pytest.mark.sqlite_only
def test_a_separate_worker_serves_its_heartbeat_and_counters_on_loopback(
    backend: str, empty_database_factory: object, tmp_path: Path, subprocess_output_dir: Path
) -> None:
    url: str = empty_database_factory(backend)  # type: ignore[operator]
    asyncio.run(upgrade(url))
    procs = Processes(tmp_path, url, subprocess_output_dir)
    port = free_port()
    worker = procs.start("worker", "--metrics-port", str(port))
    try:
        assert wait_until(lambda: heartbeat(port) is not None, timeout=60, every=0.2), procs.tail()
        first = heartbeat(port)
        assert first is not None
        # It keeps beating: a later pass moves the timestamp on.
        assert wait_until(lambda: (heartbeat(port) or 0) > first, timeout=30, every=0.2)
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        assert 'aftercare_webhook_attempts_total{outcome="delivered"} 0.0' in text
        # The database gauges are the API's: the worker never reads them, so shows none.
        for gauge in ("aftercare_outbox_lag_seconds", "aftercare_escalation_overdue_seconds"):
            assert gauge not in text
        assert procs.stop(worker) == 0
    finally:
        procs.kill_all()
