"""Per-source token buckets, shared by the HTTP intake and the syslog receiver.

A bucket holds up to `burst` tokens and refills at `rate` per second; a batch of n records needs
min(n, burst) tokens present and takes n, so a batch larger than the burst passes once the bucket
is full and leaves a debt the source then waits out. `take` returns 0.0 when allowed, else how
many seconds until it would be: HTTP answers 429 with that Retry-After, TCP syslog pauses reading
that long (nothing lost), UDP drops and counts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    __slots__ = ("_clock", "burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self.tokens = self.burst
        self._clock = clock
        self.stamp = clock()

    def take(self, n: int) -> float:
        now = self._clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        need = min(float(n), self.burst)
        if self.tokens < need:
            return (need - self.tokens) / self.rate
        self.tokens -= n
        return 0.0


class RateLimiter:
    """One bucket per source id, created on first use; `rate <= 0` disables limiting. Thread-safe."""

    def __init__(self, rate: float, burst: int = 0, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst if burst > 0 else max(rate, 1.0)
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, source_id: str, n: int = 1) -> float:
        """Seconds to wait before `n` records from `source_id` are allowed (0.0: allowed now)."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            bucket = self._buckets.get(source_id)
            if bucket is None:
                bucket = self._buckets[source_id] = TokenBucket(self.rate, self.burst, self._clock)
            return bucket.take(n)
