"""One signed POST per attempt, bounded in time, never following a redirect."""

import asyncio
import logging
import time
from collections.abc import Callable

import httpx

from app.core.config import Settings
from app.core.logsafe import log_failure
from app.webhooks.delivery import Claim, SendResult
from app.webhooks.signing import signature_headers
from app.webhooks.targets import UnsafeTarget, checked_target

log = logging.getLogger("aftercare.webhooks")
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
        self._client = self._new_client(settings.worker_concurrency, keepalive=True)
        self._unpooled = self._new_client(settings.worker_concurrency, keepalive=False)

    def _new_client(self, connections: int, *, keepalive: bool) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=httpx.Timeout(self._timeout),
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment between us and the address
            limits=httpx.Limits(
                max_connections=connections,
                max_keepalive_connections=connections if keepalive else 0,
            ),
            headers={"user-agent": USER_AGENT},
        )

    async def send(self, claim: Claim) -> SendResult:
        """Never raises: whatever goes wrong becomes the attempt's recorded error. The timeout
        bounds everything, the address lookup included, so a send never outlives its lease."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                status = await self._post(claim)
        except UnsafeTarget as exc:
            return SendResult(None, f"not sent: {exc}", _ms_since(started))
        except TimeoutError:
            return SendResult(None, f"timed out after {self._timeout:g} s", _ms_since(started))
        except httpx.HTTPError as exc:
            return SendResult(None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR], _ms_since(started))
        except Exception as exc:  # a defect must fail this attempt, not lose the delivery
            log_failure(log, "webhook send failed unexpectedly", exc)
            return SendResult(None, f"internal error: {type(exc).__name__}", _ms_since(started))
        error = None
        if 300 <= status < 400:
            error = f"HTTP {status}: redirects are not followed"
        elif not 200 <= status < 300:
            error = f"HTTP {status}"
        return SendResult(status, error, _ms_since(started))

    async def _post(self, claim: Claim) -> int:
        target = await checked_target(claim.url, allow_private=self._allow_private)
        headers = signature_headers(
            claim.secret, str(claim.event_id), int(self._wall_clock()), claim.body
        )
        headers["content-type"] = "application/json"
        client = self._client
        extensions = {}
        if target.sni_hostname:
            # Connected by address: a pooled connection to that address may have been opened,
            # and its certificate checked, for another host name. Never reuse one.
            client = self._unpooled
            headers["host"] = target.host_header or target.sni_hostname
            extensions["sni_hostname"] = target.sni_hostname
        async with client.stream(
            "POST", target.url, content=claim.body, headers=headers, extensions=extensions
        ) as response:
            # Read (and drop) a small answer so the connection can serve the next send; a
            # large one is cut off, and its connection closed instead.
            received = 0
            async for chunk in response.aiter_raw():
                received += len(chunk)
                if received > MAX_ANSWER_BYTES:
                    break
            return response.status_code

    async def aclose(self) -> None:
        await self._client.aclose()
        await self._unpooled.aclose()


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
