"""One signed POST per attempt, bounded in time, never following a redirect."""

import asyncio
import time
from collections.abc import Callable

import httpx

from app.core.config import Settings
from app.webhooks.delivery import Claim, Outcome
from app.webhooks.signing import signature_headers
from app.webhooks.targets import UnsafeTarget, checked_target

USER_AGENT = "Aftercare-Webhooks/1"
MAX_ERROR = 300
MAX_ANSWER_BYTES = 64 * 1024


class Sender:
    def __init__(self, settings: Settings, *, wall_clock: Callable[[], float] = time.time) -> None:
        self._allow_private = settings.allow_private_webhooks
        self._timeout = settings.webhook_timeout_seconds
        # The signature's timestamp is the real time of sending: receivers compare it with
        # their own clocks to refuse replays, whatever clock the business rules run on.
        self._wall_clock = wall_clock
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self._timeout),
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment between us and the checked address
            limits=httpx.Limits(max_connections=settings.worker_concurrency),
            headers={"user-agent": USER_AGENT},
        )

    async def send(self, claim: Claim) -> Outcome:
        started = time.perf_counter()

        def elapsed_ms() -> int:
            return round((time.perf_counter() - started) * 1000)

        try:
            target = await checked_target(claim.url, allow_private=self._allow_private)
        except UnsafeTarget as exc:
            return Outcome(status_code=None, error=f"not sent: {exc}", latency_ms=elapsed_ms())
        headers = signature_headers(
            claim.secret, str(claim.event_id), int(self._wall_clock()), claim.body
        )
        headers["content-type"] = "application/json"
        if target.host_header:
            headers["host"] = target.host_header
        extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
        try:
            async with (
                asyncio.timeout(self._timeout),
                self._client.stream(
                    "POST", target.url, content=claim.body, headers=headers, extensions=extensions
                ) as response,
            ):
                status = response.status_code
                # Read (and drop) a small answer so the connection can serve the next send;
                # a large one is cut off, and its connection closed instead.
                received = 0
                async for chunk in response.aiter_raw():
                    received += len(chunk)
                    if received > MAX_ANSWER_BYTES:
                        break
        except TimeoutError:
            return Outcome(None, f"timed out after {self._timeout:g} s", elapsed_ms())
        except httpx.HTTPError as exc:
            message = f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
            return Outcome(None, message, elapsed_ms())
        error = None
        if 300 <= status < 400:
            error = f"HTTP {status}: redirects are not followed"
        elif not 200 <= status < 300:
            error = f"HTTP {status}"
        return Outcome(status, error, elapsed_ms())

    async def aclose(self) -> None:
        await self._client.aclose()
