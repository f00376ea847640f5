"""Adaptive concurrency (AIMD shared by all workers) and the rate-cap token bucket."""

from __future__ import annotations

import threading
import time

import pytest

from airflow_provider_smtp2go.bulk import AdaptiveConcurrency, RateCap
from airflow_provider_smtp2go.client import RetryPolicy

# A limiter bug shows up as a worker blocked forever: fail fast instead.
pytestmark = pytest.mark.timeout(20)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingClock(FakeClock):
    """A fake clock that counts its reads, to know when a waiting thread has looked at it."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


def test_one_congestion_event_halves_the_limit_once_for_everyone() -> None:
    clock = FakeClock()
    limit = AdaptiveConcurrency(16, clock=clock, policy=RetryPolicy(rate_limit_backoff=60))
    tickets = [limit.acquire() for _ in range(16)]  # all in flight when the 429s come back
    for ticket in tickets[:10]:
        limit.release(ticket, rate_limited=True)
    assert limit.limit == 8.0  # not 16 * 0.5**10
    assert limit.decreases == 1 and limit.rate_limited_count == 10
    # every worker waits the same pause: RetryPolicy.wait's 429 backoff (60 s plus up to 25 % jitter)
    assert 1060.0 <= limit.paused_until <= 1075.0


def test_later_429_in_a_new_epoch_cuts_again_and_backoff_doubles_without_retry_after() -> None:
    clock = FakeClock()
    policy = RetryPolicy(rate_limit_backoff=10, rate_limit_backoff_max=25)
    limit = AdaptiveConcurrency(16, clock=clock, policy=policy)
    limit.release(limit.acquire(), rate_limited=True)
    assert limit.limit == 8.0 and 1010.0 <= limit.paused_until <= 1012.5
    clock.now = 1020.0
    limit.release(limit.acquire(), rate_limited=True)
    assert limit.limit == 4.0 and 1040.0 <= limit.paused_until <= 1045.0
    clock.now = 1050.0
    limit.release(limit.acquire(), rate_limited=True)
    assert limit.limit == 2.0 and 1075.0 <= limit.paused_until <= 1081.25  # capped at the max (plus jitter)
    clock.now = 1090.0
    limit.release(limit.acquire(), rate_limited=True)
    clock.now = 2000.0
    limit.release(limit.acquire(), rate_limited=True)
    assert limit.limit == 1.0  # never below min_limit


def test_retry_after_sets_the_pause() -> None:
    clock = FakeClock()
    limit = AdaptiveConcurrency(4, clock=clock)
    limit.release(limit.acquire(), rate_limited=True, retry_after=2.5)
    assert limit.paused_until == pytest.approx(1002.5)


def test_successes_grow_the_limit_back_additively() -> None:
    clock = FakeClock()
    limit = AdaptiveConcurrency(16, clock=clock)
    limit.release(limit.acquire(), rate_limited=True, retry_after=0)
    assert limit.current == 8
    for _ in range(8):  # one window of `limit` successes earns about one slot
        limit.release(limit.acquire())
    assert limit.limit == pytest.approx(8.95, abs=0.01)
    for _ in range(200):
        limit.release(limit.acquire())
    assert limit.current == 16  # back to the ceiling, never above


def test_pause_blocks_every_worker_until_it_ends() -> None:
    clock = CountingClock()
    limit = AdaptiveConcurrency(4, clock=clock)
    held = limit.acquire()  # released after the pause, to wake the waiters without real time passing
    limit.release(limit.acquire(), rate_limited=True, retry_after=0.3)
    acquired_at: list[float] = []

    def worker() -> None:
        ticket = limit.acquire()
        acquired_at.append(clock.now)
        limit.release(ticket)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    reads_before = clock.reads
    for t in threads:
        t.start()
    while clock.reads < reads_before + 2:  # both workers have looked at the clock and gone to wait
        time.sleep(0.001)
    assert acquired_at == []  # paused: nobody got a slot
    clock.now += 0.3
    limit.release(held)
    for t in threads:
        t.join(5)
    assert acquired_at == [1000.3, 1000.3]  # both went once the injected clock reached the pause's end


def test_in_flight_never_exceeds_the_limit_under_threads() -> None:
    limit = AdaptiveConcurrency(3)
    peak = 0
    lock = threading.Lock()
    current = 0

    def worker() -> None:
        nonlocal peak, current
        for _ in range(20):
            ticket = limit.acquire()
            with lock:
                current += 1
                peak = max(peak, current)
            time.sleep(0.001)
            with lock:
                current -= 1
            limit.release(ticket)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == 3 and limit.max_in_flight_seen == 3 and limit.in_flight == 0


def test_acquire_times_out() -> None:
    limit = AdaptiveConcurrency(1)
    limit.acquire()
    with pytest.raises(TimeoutError):
        limit.acquire(timeout=0.05)


# Rate cap


def test_rate_cap_spaces_sends_exactly() -> None:
    clock = FakeClock()
    cap = RateCap(per_second=20, clock=clock)
    waits = [cap.reserve() for _ in range(5)]
    assert waits == pytest.approx([0.0, 0.05, 0.10, 0.15, 0.20])
    clock.now += 1.0  # idle: tokens refill only up to the burst
    assert cap.reserve() == 0.0
    assert cap.reserve() == pytest.approx(0.05)


def test_per_hour_cap_and_the_lower_of_two_caps_wins() -> None:
    assert RateCap(per_hour=200_000).rate == pytest.approx(55.555, rel=1e-3)
    assert RateCap(per_second=100, per_hour=3600).rate == pytest.approx(1.0)
    assert RateCap(per_second=2, per_hour=360_000).rate == pytest.approx(2.0)


def test_rate_cap_minimum_duration_math() -> None:
    cap = RateCap(per_second=50)
    assert cap.minimum_duration(1000) == pytest.approx(19.98)  # first send free, 999 more at 50/s
    assert RateCap(per_second=50, burst=10).minimum_duration(1000) == pytest.approx(19.8)


def test_rate_cap_holds_under_threads() -> None:
    clock = FakeClock()
    cap = RateCap(per_second=100, clock=clock)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(25):
            w = cap.reserve()
            with lock:
                waits.append(w)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 200 reservations at one instant: exactly one slot every 10 ms, none shared.
    assert sorted(round(w, 6) for w in waits) == [round(i * 0.01, 6) for i in range(200)]


def test_rate_cap_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="per_second and/or per_hour"):
        RateCap()
    with pytest.raises(ValueError, match="positive"):
        RateCap(per_second=0)
