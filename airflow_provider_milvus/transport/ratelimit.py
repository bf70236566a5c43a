"""Request-rate limits shared by every client of a process (Zilliz Cloud: 20 requests/s per endpoint)."""

from __future__ import annotations

import asyncio
import time
from typing import Final

#: Zilliz Cloud allows 20 requests per second per user and endpoint; stay a little below.
CLOUD_REQUESTS_PER_SECOND: Final = 18.0


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


def limiter_for(url: str, rate: float = CLOUD_REQUESTS_PER_SECOND) -> AsyncRateLimiter:
    """The process-wide limiter of one endpoint (URL) in the running event loop."""
    key = (id(asyncio.get_running_loop()), url)
    limiter = _LIMITERS.get(key)
    if limiter is None:
        limiter = _LIMITERS[key] = AsyncRateLimiter(rate, burst=1.0)  # no burst: any 1 s window stays under
    return limiter
