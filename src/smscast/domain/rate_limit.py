"""Token buckets: how many requests a caller may make, refilled at a steady rate (pure arithmetic).

A bucket holds at most ``burst`` tokens and gains ``rate_per_s`` tokens a second; a request takes one. An
empty bucket answers how long until the next token, which the HTTP layer sends as ``Retry-After``.

Time comes from an injected monotonic clock (seconds as a float), so tests drive it by hand and a wall
clock jump (NTP, DST) never refills or drains a bucket.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

MonotonicClock = Callable[[], float]
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class Bucket:
    """A bucket's level ``tokens`` as of the instant ``at`` (clock seconds)."""

    tokens: float
    at: float


@dataclass(frozen=True, slots=True)
class BucketPolicy:
    """``rate_per_s`` tokens a second, at most ``burst`` held. ``rate_per_s == 0`` turns limiting off."""

    rate_per_s: float
    burst: int

    def __post_init__(self) -> None:
        if self.rate_per_s < 0 or not math.isfinite(self.rate_per_s):
            raise ValueError("rate_per_s must be a finite number ≥ 0")
        if self.burst < 1:
            raise ValueError("burst must be at least 1")

    @property
    def enabled(self) -> bool:
        return self.rate_per_s > 0

    def full(self, now: float) -> Bucket:
        return Bucket(float(self.burst), now)

    def refill(self, bucket: Bucket, now: float) -> Bucket:
        """The bucket at ``now``: topped up for the time elapsed, never above ``burst``.

        A clock that went backwards (it should not: it is monotonic) adds nothing rather than draining.
        """
        elapsed = max(0.0, now - bucket.at)
        return Bucket(min(float(self.burst), bucket.tokens + elapsed * self.rate_per_s), max(now, bucket.at))

    def take(self, bucket: Bucket, now: float, cost: float = 1.0) -> tuple[Bucket, float]:
        """Take ``cost`` tokens at ``now``: ``(new bucket, 0.0)`` if there were enough, else the bucket
        unchanged but refilled and the seconds to wait until ``cost`` tokens are there.

        A denied request takes nothing, so a client that keeps retrying is not starved for ever.
        """
        current = self.refill(bucket, now)
        if current.tokens + _EPSILON >= cost:  # float sums of clock readings drift by ~1e-13
            return Bucket(max(0.0, current.tokens - cost), current.at), 0.0
        return current, (cost - current.tokens) / self.rate_per_s

    def idle_after_s(self) -> float:
        """Seconds after which an untouched bucket is full again, i.e. indistinguishable from a new one."""
        return self.burst / self.rate_per_s


def retry_after_header(wait_s: float) -> int:
    """``Retry-After`` in whole seconds, rounded up and at least 1 (0 would invite an immediate retry)."""
    return max(1, math.ceil(wait_s))


class RateLimiter:
    """One bucket per key (an application id), in this process's memory; safe to use from many threads.

    Buckets idle long enough to be full again are forgotten, so memory is bounded by the number of keys
    active within ``burst / rate_per_s`` seconds.
    """

    def __init__(self, policy: BucketPolicy, clock: MonotonicClock = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._buckets: dict[str, Bucket] = {}
        self._lock = threading.Lock()
        self._next_sweep = clock()

    def acquire(self, key: str, cost: float = 1.0) -> float:
        """Take ``cost`` tokens from ``key``'s bucket: 0.0 when allowed, else the seconds to wait."""
        if not self.policy.enabled:
            return 0.0
        with self._lock:
            now = self._clock()
            self._sweep(now)
            bucket = self._buckets.get(key) or self.policy.full(now)
            bucket, wait_s = self.policy.take(bucket, now, cost)
            self._buckets[key] = bucket
            return wait_s

    def __len__(self) -> int:
        return len(self._buckets)

    def _sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        idle = self.policy.idle_after_s()
        self._buckets = {key: b for key, b in self._buckets.items() if now - b.at < idle}
        self._next_sweep = now + max(idle, 1.0)
