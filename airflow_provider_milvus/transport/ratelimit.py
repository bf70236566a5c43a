"""Request-rate limits shared by every client of a process (its share of Zilliz Cloud's 20 requests/s per endpoint)."""

from __future__ import annotations

import asyncio
import time

from airflow_provider_milvus.config import cloud_requests_per_second


class AsyncRateLimiter:
    """A token bucket for one event loop: ``await acquire()`` returns when a request may go."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        self.rate = rate
        self.capacity = burst if burst is not None else rate
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Take one token, sleeping until one is free (callers are served in order)."""
        async with self._lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens < 1:
                wait = (1 - self.tokens) / self.rate
                await asyncio.sleep(wait)
                self.updated = time.monotonic()
                self.tokens = 0.0
            else:
                self.tokens -= 1


_LIMITERS: dict[tuple[int, str], AsyncRateLimiter] = {}


def limiter_for(url: str, rate: float | None = None) -> AsyncRateLimiter:
    """The process-wide limiter of one endpoint (URL) in the running event loop.

    ``rate`` defaults to this process's share, ``[milvus] cloud_requests_per_second`` (read once per
    limiter): every process (triggerer, worker) keeps its own bucket, so the shares add up.
    """
    key = (id(asyncio.get_running_loop()), url)
    limiter = _LIMITERS.get(key)
    if limiter is None:
        limiter = _LIMITERS[key] = AsyncRateLimiter(
            cloud_requests_per_second() if rate is None else rate, burst=1.0
        )  # no burst: any 1 s window stays under
    return limiter
