"""Token-bucket arithmetic and the per-key limiter (domain/rate_limit.py), on a hand-driven clock."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smscast.domain.rate_limit import Bucket, BucketPolicy, RateLimiter, retry_after_header


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_full_bucket_allows_the_burst_then_says_how_long_to_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(BucketPolicy(rate_per_s=10, burst=5), clock)
    assert [limiter.acquire("app") for _ in range(5)] == [0.0] * 5
    assert limiter.acquire("app") == pytest.approx(0.1)
    clock.now += 0.05
    assert limiter.acquire("app") == pytest.approx(0.05)
    clock.now += 0.05
    assert limiter.acquire("app") == 0.0


def test_refill_is_steady_and_capped_at_the_burst() -> None:
    policy = BucketPolicy(rate_per_s=2, burst=4)
    assert policy.refill(Bucket(0, 10.0), 11.0) == Bucket(2.0, 11.0)
    assert policy.refill(Bucket(1, 10.0), 100.0) == Bucket(4.0, 100.0)


def test_a_clock_going_backwards_neither_refills_nor_drains() -> None:
    policy = BucketPolicy(rate_per_s=2, burst=4)
    assert policy.refill(Bucket(1.5, 10.0), 9.0) == Bucket(1.5, 10.0)


def test_a_denied_request_takes_nothing() -> None:
    policy = BucketPolicy(rate_per_s=1, burst=1)
    bucket, wait = policy.take(Bucket(0.25, 0.0), 0.0)
    assert wait == pytest.approx(0.75) and bucket.tokens == pytest.approx(0.25)
    bucket, wait = policy.take(bucket, 0.75)
    assert wait == 0.0 and bucket.tokens == pytest.approx(0.0)


def test_applications_have_buckets_of_their_own() -> None:
    limiter = RateLimiter(BucketPolicy(rate_per_s=1, burst=1), FakeClock())
    assert limiter.acquire("a") == 0.0
    assert limiter.acquire("a") > 0
    assert limiter.acquire("b") == 0.0


def test_rate_zero_turns_limiting_off() -> None:
    limiter = RateLimiter(BucketPolicy(rate_per_s=0, burst=1), FakeClock())
    assert all(limiter.acquire("a") == 0.0 for _ in range(1000))
    assert len(limiter) == 0


def test_idle_buckets_are_forgotten_once_they_would_be_full() -> None:
    clock = FakeClock()
    limiter = RateLimiter(BucketPolicy(rate_per_s=10, burst=20), clock)  # full again after 2 s
    for key in ("a", "b", "c"):
        limiter.acquire(key)
    assert len(limiter) == 3
    clock.now += 1.0
    limiter.acquire("a")
    clock.now += 1.5  # b and c idle 2.5 s, a idle 1.5 s
    limiter.acquire("d")
    assert len(limiter) == 2  # a and d


@pytest.mark.parametrize(("wait", "header"), [(0.0001, 1), (0.5, 1), (1.0, 1), (1.01, 2), (59.2, 60)])
def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one(wait: float, header: int) -> None:
    assert retry_after_header(wait) == header


@pytest.mark.parametrize(("rate", "burst"), [(-1, 10), (float("inf"), 10), (float("nan"), 10), (1, 0)])
def test_bad_policies_are_refused(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        BucketPolicy(rate, burst)


def test_concurrent_callers_never_get_more_than_the_burst() -> None:
    limiter = RateLimiter(BucketPolicy(rate_per_s=1, burst=50), FakeClock())  # time stands still
    allowed: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = sum(1 for _ in range(40) if limiter.acquire("app") == 0.0)
        with lock:
            allowed.append(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(allowed) == 50


@settings(max_examples=300, deadline=None)
@given(
    st.floats(0.5, 100),
    st.integers(1, 50),
    st.lists(st.floats(0, 2), min_size=1, max_size=300),
)
def test_no_window_admits_more_than_burst_plus_rate_times_its_length(
    rate: float, burst: int, gaps: list[float]
) -> None:
    clock = FakeClock(0.0)
    limiter = RateLimiter(BucketPolicy(rate, burst), clock)
    admitted: list[float] = []
    for gap in gaps:
        clock.now += gap
        wait = limiter.acquire("app")
        if wait == 0.0:
            admitted.append(clock.now)
        else:
            assert wait > 0
    for i, start in enumerate(admitted):
        for j in range(i, len(admitted)):
            count = j - i + 1
            assert count <= burst + rate * (admitted[j] - start) + 1e-6
