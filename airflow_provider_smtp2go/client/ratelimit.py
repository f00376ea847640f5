"""The in-process limiter that keeps ``/activity/search`` under SMTP2GO's 60 requests/minute.

One limiter exists per (API key, host) in a process, shared by every client built for that
pair, sync or async. It hands out *reservations*: ``reserve()`` books the next free slot and
says how long to wait for it, so a thread can ``time.sleep`` and a coroutine can
``asyncio.sleep`` on the same bookkeeping.

After a 429 the limiter blocks everyone for the server's ``Retry-After`` (already clamped to
``limits.MAX_RETRY_AFTER``; ``limits.IP_TIMEOUT_SECONDS`` without one). No caller waits past its
own deadline for that: a slot further away than the caller can wait is not booked, and the
caller gets ``Smtp2goRateLimitError`` carrying the wait as ``retry_after`` at once.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable

from airflow_provider_smtp2go.client import limits
from airflow_provider_smtp2go.client.errors import Smtp2goRateLimitError


class SlidingWindowLimiter:
    """At most ``limit`` requests in any ``period`` seconds.

    >>> limiter = SlidingWindowLimiter(limit=2, period=60.0, clock=lambda: 100.0)
    >>> limiter.reserve(), limiter.reserve(), limiter.reserve()
    (0.0, 0.0, 60.0)
    """

    def __init__(
        self, limit: int, period: float = limits.ACTIVITY_PERIOD_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if limit < 1 or period <= 0:
            raise ValueError("limit must be >= 1 and period > 0")
        self.limit = limit
        self.period = period
        self._clock = clock
        self._slots: deque[float] = deque(maxlen=limit)
        self._blocked_until = 0.0
        self._lock = threading.Lock()

    def reserve(self, max_wait: float = math.inf, *, endpoint: str | None = None) -> float:
        """Book a slot; return the seconds to wait before using it (0.0 when free now).

        A slot more than ``max_wait`` seconds away (the caller's remaining deadline) is not
        booked: ``Smtp2goRateLimitError`` is raised at once, its ``retry_after`` the wait.

        >>> limiter = SlidingWindowLimiter(limit=1, period=60.0, clock=lambda: 0.0)
        >>> limiter.reserve(), limiter.reserve(max_wait=5.0)
        Traceback (most recent call last):
        ...
        airflow_provider_smtp2go.client.errors.Smtp2goRateLimitError: ... 60.0 s ...
        """
        with self._lock:
            now = self._clock()
            slot = max(now, self._blocked_until)
            if len(self._slots) == self.limit:
                slot = max(slot, self._slots[0] + self.period)
            wait = slot - now
            if wait > max_wait:
                raise Smtp2goRateLimitError(
                    f"the in-process limiter for /activity/search has no free slot for {wait:.1f} s "
                    f"(SMTP2GO's budget, or a 429 it answered); that is past this call's deadline",
                    retry_after=wait,
                    endpoint=endpoint,
                )
            self._slots.append(slot)
            return wait

    def lower_limit(self, limit: int) -> None:
        """Tighten the budget (never loosen it): the strictest share asked for in a process wins."""
        with self._lock:
            if 1 <= limit < self.limit:
                self.limit = limit
                self._slots = deque(self._slots, maxlen=limit)

    def block_for(self, seconds: float | None) -> None:
        """Make every caller wait ``seconds`` from now (after a 429, everyone backs off together).

        ``seconds`` is clamped to ``limits.MAX_RETRY_AFTER``; ``None``, NaN or a negative value
        means SMTP2GO's usual IP time-out (``limits.IP_TIMEOUT_SECONDS``).
        """
        if seconds is None or not seconds >= 0:  # also catches NaN
            seconds = limits.IP_TIMEOUT_SECONDS
        seconds = min(seconds, limits.MAX_RETRY_AFTER)
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds)


_registry: dict[tuple[str, str, float], SlidingWindowLimiter] = {}
_registry_lock = threading.Lock()


def key_fingerprint(api_key: str) -> str:
    """A stable, non-reversible name for an API key: to group per account without keeping the key."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:32]


def shared_limiter(
    api_key: str, host: str, limit: int, period: float = limits.ACTIVITY_PERIOD_SECONDS
) -> SlidingWindowLimiter:
    """The process-wide limiter for this key and host (keyed by a hash: the key is not kept).

    Clients asking for different limits share one limiter with the smallest of them, so two
    clients of one account can never spend more than the stricter share between them.
    """
    key = (key_fingerprint(api_key), host, period)
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = _registry[key] = SlidingWindowLimiter(limit, period)
        else:
            limiter.lower_limit(limit)
        return limiter
