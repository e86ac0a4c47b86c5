"""Throttles, counted by the `limits` package: in this process's memory by default, or in
Redis when AFTERCARE_RATE_LIMIT_URL names one, so every instance behind a balancer counts
together. Windows move with the wall clock (Redis's counters must mean the same to every
instance), not with the app's injected business clock.

Every limit is a moving window: "n in the last m minutes", with no boundary at which a
burst of 2n gets through."""

import hashlib
import logging
import math
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError

from app.core.domain_errors import TooManyRequests

log = logging.getLogger("aftercare.ratelimit")
DEFAULT_PREFIX = "aftercare"
# Each further failure doubles the window the failures are counted over, up to an hour: a
# 1-minute lockout, then 1, 2, 4 ... 32 minutes; beyond, one more guess per lockout.
BACKOFF_STEPS = 7


def per_minute(amount: int) -> RateLimitItem:
    return RateLimitItemPerMinute(amount)


def backoff(first: int) -> tuple[RateLimitItem, ...]:
    """`first` failures a minute, then one more over twice the window, and so on: once a
    tier is full the next failure is refused until its oldest failure leaves the window."""
    return tuple(RateLimitItemPerMinute(first + step, 2**step) for step in range(BACKOFF_STEPS))


def opaque(value: str) -> str:
    """A key that names an account without holding its e-mail (Redis is not the database)."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def storage_for(url: str, prefix: str = DEFAULT_PREFIX) -> Storage:
    if not url:
        return MemoryStorage()
    if url.startswith(("redis://", "rediss://")):
        # limits' async Redis storage (coredis); errors wrapped so one type says "Redis is down".
        return RedisStorage(f"async+{url}", wrap_exceptions=True, key_prefix=prefix)
    raise ValueError("AFTERCARE_RATE_LIMIT_URL must be empty or a redis:// or rediss:// URL")


class Throttle:
    """Moving-window counters. A counter store that fails lets the request through (and logs
    it): a patient's red-flag report or a clinician's sign-in must not depend on Redis."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._windows = MovingWindowRateLimiter(storage)

    @classmethod
    def connect(cls, url: str, prefix: str = DEFAULT_PREFIX) -> "Throttle":
        return cls(storage_for(url, prefix))

    async def take(self, limit: RateLimitItem, *key: str, cost: int = 1) -> None:
        """Counts `cost` against the limit at once (so concurrent requests cannot all slip
        under it), or raises TooManyRequests when that would exceed it."""
        async with _letting_through_if_storage_fails():
            if await self._windows.hit(limit, *key, cost=min(cost, limit.amount)):
                return
            raise TooManyRequests(await self._retry_after(limit, key))

    async def check(self, limits: Sequence[RateLimitItem], *key: str) -> None:
        """Raises TooManyRequests while any of the limits is full; counts nothing."""
        async with _letting_through_if_storage_fails():
            full = [limit for limit in limits if not await self._windows.test(limit, *key)]
            if full:
                waits = [await self._retry_after(limit, key) for limit in full]
                raise TooManyRequests(max(waits))

    async def record(self, limits: Sequence[RateLimitItem], *key: str) -> None:
        async with _letting_through_if_storage_fails():
            for limit in limits:
                await self._windows.hit(limit, *key)

    async def forget(self, limits: Sequence[RateLimitItem], *key: str) -> None:
        async with _letting_through_if_storage_fails():
            for limit in limits:
                await self._windows.clear(limit, *key)

    async def _retry_after(self, limit: RateLimitItem, key: tuple[str, ...]) -> int:
        stats = await self._windows.get_window_stats(limit, *key)
        return max(1, math.ceil(stats.reset_time - time.time()))


@asynccontextmanager
async def _letting_through_if_storage_fails() -> AsyncIterator[None]:
    try:
        yield
    except StorageError as exc:
        # Only the error's type: its text may quote a key, and keys name accounts and callers.
        kind = type(exc.storage_error).__name__
        log.warning("rate limit storage unavailable (%s); letting the request through", kind)
