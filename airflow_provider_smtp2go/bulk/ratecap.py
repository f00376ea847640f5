"""A sending-rate cap (emails per second and/or per hour), as a token bucket shared by all workers.

SMTP2GO accounts have a sending limit (200,000 emails/hour by default); a bulk run should stay
under it rather than find it through 429s (which time the IP out for a minute or more).

Each send *reserves* the next slot under a lock and then sleeps outside it, so workers never
queue on the lock, and the spacing between sends is exact: with ``burst=1`` (the default) no
window of ``1/rate`` seconds ever holds two sends.

>>> now = [0.0]
>>> cap = RateCap(per_second=10, clock=lambda: now[0])
>>> [round(cap.reserve(), 3) for _ in range(4)]
[0.0, 0.1, 0.2, 0.3]
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateCap:
    """Token bucket: ``rate`` tokens per second (the lower of the two caps), ``burst`` capacity.

    :param per_second: at most this many sends per second.
    :param per_hour: at most this many sends per hour.
    :param burst: how many sends may go back to back after an idle spell (default 1).
    """

    def __init__(
        self,
        *,
        per_second: float | None = None,
        per_hour: float | None = None,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        rates = [r for r in (per_second, None if per_hour is None else per_hour / 3600.0) if r is not None]
        if not rates:
            raise ValueError("give per_second and/or per_hour")
        if any(r <= 0 for r in rates):
            raise ValueError("rate caps must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.per_second = per_second
        self.per_hour = per_hour
        self.rate = min(rates)
        self.burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.burst
        self._stamp = clock()

    def reserve(self) -> float:
        """Take one token (possibly one not yet earned) and return how long to wait for it."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def acquire(self) -> float:
        """Wait for a token; return the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    def minimum_duration(self, count: int) -> float:
        """The shortest time ``count`` sends can take under this cap (for ETAs and tests)."""
        return max(0.0, (count - self.burst) / self.rate)

    def __repr__(self) -> str:
        return f"RateCap(per_second={self.per_second}, per_hour={self.per_hour}, rate={self.rate:.3f}/s)"
