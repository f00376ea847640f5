"""Adaptive concurrency (AIMD): one shared limit that every worker obeys.

SMTP2GO answers 429 when an IP sends too much, and keeps answering 429 (for at least a minute)
if it keeps trying. So a 429 seen by *any* worker pauses *all* of them and cuts the shared
limit (multiplicative decrease); every success lets it grow back by about one slot per
window of ``limit`` successes (additive increase), as TCP congestion control does.

Several workers usually hit 429 at once (they were all in flight when the limit was crossed);
only the first of them, counted by the *epoch* its request started in, cuts the limit, so one
congestion event halves the limit once rather than once per worker.

How long to pause is not decided here: ``RetryPolicy.wait`` (the one backoff) says, from the
server's ``Retry-After`` or, without one, from SMTP2GO's IP time-out doubling per consecutive 429.

>>> limit = AdaptiveConcurrency(16, clock=lambda: 100.0)
>>> ticket = limit.acquire()
>>> limit.release(ticket, rate_limited=True, retry_after=2.0)
>>> limit.limit, limit.paused_until
(8.0, 102.0)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from airflow_provider_smtp2go.client.retry import RetryPolicy


@dataclass(frozen=True)
class Ticket:
    """A held slot; ``epoch`` is the congestion epoch the request started in."""

    epoch: int


class AdaptiveConcurrency:
    """Bound in-flight requests by a limit that halves on 429 and creeps back on success.

    :param max_limit: the ceiling (the configured concurrency).
    :param min_limit: never go below this many in flight.
    :param decrease_factor: multiply the limit by this on a 429.
    :param policy: whose ``wait`` sets the pause after a 429 (its ``rate_limit_backoff`` and
        ``rate_limit_backoff_max`` apply when the answer carries no ``Retry-After``).
    """

    def __init__(
        self,
        max_limit: int,
        *,
        min_limit: int = 1,
        decrease_factor: float = 0.5,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_limit < 1 or not 1 <= min_limit <= max_limit:
            raise ValueError("need 1 <= min_limit <= max_limit")
        if not 0 < decrease_factor < 1:
            raise ValueError("decrease_factor must be between 0 and 1")
        self.max_limit = max_limit
        self.min_limit = min_limit
        self.decrease_factor = decrease_factor
        self.policy = policy or RetryPolicy()
        self._clock = clock
        self._cond = threading.Condition()
        self.limit = float(max_limit)
        self.in_flight = 0
        self.epoch = 0
        self.paused_until = 0.0
        self.rate_limited_count = 0
        self.decreases = 0
        self.max_in_flight_seen = 0
        self._consecutive_429 = 0

    def acquire(self, timeout: float | None = None) -> Ticket:
        """Block until a slot is free and no pause is in force; return the ticket to release."""
        deadline = None if timeout is None else self._clock() + timeout
        with self._cond:
            while True:
                now = self._clock()
                pause = self.paused_until - now
                if pause <= 0 and self.in_flight < int(self.limit):
                    self.in_flight += 1
                    self.max_in_flight_seen = max(self.max_in_flight_seen, self.in_flight)
                    return Ticket(self.epoch)
                wait = pause if pause > 0 else None
                if deadline is not None:
                    left = deadline - now
                    if left <= 0:
                        raise TimeoutError("no concurrency slot became free in time")
                    wait = left if wait is None else min(wait, left)
                self._cond.wait(wait)

    def release(self, ticket: Ticket, *, rate_limited: bool = False, retry_after: float | None = None) -> None:
        """Give the slot back, telling the limiter whether the request was rate limited."""
        with self._cond:
            self.in_flight -= 1
            if rate_limited:
                self.rate_limited_count += 1
                if ticket.epoch == self.epoch:
                    self.epoch += 1
                    self.decreases += 1
                    self.limit = max(float(self.min_limit), self.limit * self.decrease_factor)
                    self._consecutive_429 += 1
                backoff = self.policy.wait(max(1, self._consecutive_429), retry_after, rate_limited=True)
                self.paused_until = max(self.paused_until, self._clock() + backoff)
            else:
                self._consecutive_429 = 0
                # +1 slot per `limit` successes: a full window of good answers earns one more slot.
                self.limit = min(float(self.max_limit), self.limit + 1.0 / self.limit)
            self._cond.notify_all()

    @property
    def current(self) -> int:
        """The whole number of requests allowed in flight right now."""
        return int(self.limit)
