"""The one retry policy, shared by the sync and async clients and by every loop that retries.

| what happened                         | read-only call | send (email/send, email/mime)        |
|---------------------------------------|----------------|--------------------------------------|
| connect error / timeout (never left)  | retry          | retry                                |
| 429                                   | retry after Retry-After / X-RateLimit-Reset, else from 60 s |
| 503                                   | retry          | retry                                |
| 500/502/504, read timeout, reset      | retry          | Smtp2goAmbiguousSendError (opt-in)   |
| 400/401/402/403/404, 200-with-failure | never          | never (errors feed SMTP2GO's IP ban) |

Every call is bounded by ``max_attempts`` and by ``deadline``, a wall-clock bound on the whole
call: the transports cut each attempt (connecting, sending, every read of the answer) at the
deadline, and no wait is started that would end at or past it.
"""

from __future__ import annotations

import email.utils
import enum
import logging
import math
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from airflow_provider_smtp2go.client import limits
from airflow_provider_smtp2go.client.errors import (
    Smtp2goAmbiguousSendError,
    Smtp2goRateLimitError,
    Smtp2goServerError,
    Smtp2goTransportError,
)

log = logging.getLogger("airflow_provider_smtp2go.client")

T = TypeVar("T")
# Seeding a Random costs ~20 µs; one shared generator is enough for jitter.
_jitter = random.Random()


class Decision(str, enum.Enum):
    """What a failed attempt means for the next one (the table above, as values)."""

    #: Nothing was accepted, or the call only reads: trying again is safe.
    RETRY = "retry"
    #: A send left this machine and no usable answer came back: it may have been accepted.
    AMBIGUOUS = "ambiguous"
    #: No retry can fix it (bad input, bad key, 4xx, 200-with-failure, a bug).
    PERMANENT = "permanent"


class Deadline:
    """A wall-clock bound: ``seconds`` from now on ``clock``.

    >>> now = [100.0]
    >>> deadline = Deadline(30, clock=lambda: now[0])
    >>> deadline.remaining(), deadline.expired()
    (30.0, False)
    >>> now[0] = 131.0
    >>> deadline.remaining(), deadline.expired()
    (0.0, True)
    """

    __slots__ = ("_clock", "at")

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.at = clock() + seconds

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self.at - self._clock())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def bound(self, seconds: float) -> float:
        """``seconds``, cut to what is left: a timeout or wait that cannot outlive the deadline."""
        return min(seconds, self.remaining())


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. All durations are seconds.

    ``deadline`` bounds the whole call on the wall clock: attempts, waits and reading answers.

    >>> RetryPolicy(max_attempts=3, deadline=30).max_attempts
    3
    >>> RetryPolicy.no_retries().max_attempts
    1
    >>> RetryPolicy().classify(Smtp2goServerError("503", status=503))
    <Decision.RETRY: 'retry'>
    >>> RetryPolicy().wait(1, retry_after=7.0)
    7.0
    """

    max_attempts: int = limits.DEFAULT_MAX_ATTEMPTS
    deadline: float = limits.DEFAULT_DEADLINE
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    rate_limit_backoff: float = limits.IP_TIMEOUT_SECONDS
    rate_limit_backoff_max: float = limits.RATE_LIMIT_BACKOFF_MAX
    retry_ambiguous_sends: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int) or self.max_attempts < 1:
            raise ValueError(f"max_attempts must be a whole number >= 1, not {self.max_attempts!r}")
        for name in ("deadline", "backoff_base", "backoff_max", "rate_limit_backoff", "rate_limit_backoff_max"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number of seconds >= 0, not {value!r}")
        if self.deadline <= 0:
            raise ValueError("deadline must be > 0")

    @classmethod
    def no_retries(cls, **changes: Any) -> RetryPolicy:
        """One attempt, for loops that do their own retrying (bulk, the shared poller)."""
        return cls(**{"max_attempts": 1, **changes})

    def with_changes(self, **changes: Any) -> RetryPolicy:
        return replace(self, **changes)

    def start(self, *, clock: Callable[[], float] = time.monotonic) -> Deadline:
        """The ``Deadline`` of one call under this policy, starting now."""
        return Deadline(self.deadline, clock=clock)

    @staticmethod
    def classify(outcome: BaseException) -> Decision:
        """Retry, ambiguous or permanent: the one reading of the retry table.

        >>> RetryPolicy.classify(Smtp2goAmbiguousSendError("no answer"))
        <Decision.AMBIGUOUS: 'ambiguous'>
        >>> RetryPolicy.classify(ValueError("a bug"))
        <Decision.PERMANENT: 'permanent'>
        """
        if isinstance(outcome, Smtp2goAmbiguousSendError):
            return Decision.AMBIGUOUS
        if isinstance(outcome, (Smtp2goTransportError, Smtp2goRateLimitError, Smtp2goServerError)):
            return Decision.RETRY
        return Decision.PERMANENT

    def should_retry(self, exc: BaseException) -> bool:
        """``classify`` with this policy's opt-in: ambiguous sends retry only when allowed."""
        decision = self.classify(exc)
        return decision is Decision.RETRY or (decision is Decision.AMBIGUOUS and self.retry_ambiguous_sends)

    def wait(
        self,
        attempt: int,
        retry_after: float | None = None,
        *,
        rate_limited: bool = False,
        rng: random.Random = _jitter,
    ) -> float:
        """Seconds to wait after failed ``attempt`` (1-based; for a shared loop, the count of
        consecutive failures).

        A server hint (``retry_after``, already clamped by ``parse_retry_after``) wins. Without
        one, a 429 (``rate_limited``) backs off from ``rate_limit_backoff`` (SMTP2GO's IP
        time-out), other failures from ``backoff_base``; both double per attempt, with jitter.
        """
        if retry_after is not None:
            return float(retry_after)
        exponent = max(0, attempt - 1)
        if rate_limited:
            base = min(self.rate_limit_backoff_max, self.rate_limit_backoff * 2.0**exponent)
            return float(base * rng.uniform(1.0, 1.25))
        ceiling = min(self.backoff_max, self.backoff_base * 2.0**exponent)
        return float(ceiling * rng.uniform(0.5, 1.0))

    def wait_after(self, exc: BaseException | None, attempt: int, *, rng: random.Random = _jitter) -> float:
        """``wait`` for the failure ``exc``: its ``retry_after`` hint, and whether it was a 429."""
        if isinstance(exc, Smtp2goRateLimitError):
            return self.wait(attempt, exc.retry_after, rate_limited=True, rng=rng)
        return self.wait(attempt, rng=rng)


# Retry-After (RFC 9110 section 10.2.3): delta-seconds is 1*DIGIT; anything else must be an HTTP-date.
# A decimal fraction is accepted too (the sandbox uses them to keep tests fast); signs, exponents,
# inf and nan are not.
_DELTA_SECONDS = re.compile(r"\A[0-9]+(\.[0-9]{1,9})?\Z")
_warned_garbage = False


def _warn_garbage(name: str) -> None:
    global _warned_garbage  # noqa: PLW0603 - one warning per process, however many answers
    if not _warned_garbage:
        _warned_garbage = True
        log.warning("SMTP2GO sent an unusable %s header; ignoring it (reported once per process)", name)


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` or ``X-RateLimit-Reset``, clamped to
    ``limits.MAX_RETRY_AFTER``; ``None`` when neither header is usable.

    ``Retry-After`` is delta-seconds or an HTTP-date (RFC 9110). ``X-RateLimit-Reset`` is an
    epoch timestamp when that large, else seconds. Garbage (``inf``, ``nan``, ``-5``) is
    ignored with one warning per process.

    >>> parse_retry_after({"Retry-After": "7"})
    7.0
    >>> parse_retry_after({"Retry-After": "99999999999999999999"})  # clamped
    900.0
    >>> parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0)
    10.0
    """
    lowered = {k.lower(): v.strip() for k, v in headers.items()}
    now = time.time() if now is None else now
    seconds: float | None = None
    value = lowered.get("retry-after")
    if value:
        if _DELTA_SECONDS.match(value):
            seconds = min(float(value), limits.MAX_RETRY_AFTER)
        else:
            try:
                seconds = email.utils.parsedate_to_datetime(value).timestamp() - now
            except (TypeError, ValueError, OverflowError, IndexError):
                _warn_garbage("Retry-After")
    if seconds is None:
        reset = lowered.get("x-ratelimit-reset") or lowered.get("x-rate-limit-reset")
        if reset:
            try:
                number = float(reset)
            except ValueError:
                number = math.nan
            if math.isfinite(number) and number >= 0:
                seconds = number - now if number > 1_000_000_000 else number
            else:
                _warn_garbage("X-RateLimit-Reset")
    if seconds is None:
        return None
    return min(max(0.0, seconds), limits.MAX_RETRY_AFTER)


def next_wait(policy: RetryPolicy, exc: BaseException, attempt: int, deadline: Deadline) -> float | None:
    """Seconds to wait before attempt ``attempt + 1`` after ``exc``, or ``None`` to give up now.

    Gives up when ``classify`` (with the policy's opt-in for ambiguous sends) says no, when the
    attempts are spent, or when the wait would end at or past ``deadline``.
    """
    if not policy.should_retry(exc) or attempt >= policy.max_attempts:
        return None
    wait = policy.wait_after(exc, attempt)
    return wait if wait < deadline.remaining() else None


def _retrying_kwargs(
    policy: RetryPolicy,
    endpoint: str,
    deadline: Deadline,
    on_retry: Callable[[BaseException | None, float], None] | None,
) -> dict[str, Any]:
    """tenacity's settings for one call: ``next_wait`` decides both whether and how long."""
    import tenacity  # noqa: PLC0415 - on first call: importing the client must stay cheap

    waits: dict[int, float | None] = {}

    def decide(state: tenacity.RetryCallState) -> float | None:
        # tenacity asks "retry?", "how long?" and "stop?" separately; decide once per attempt so
        # the jitter drawn for the wait is the one the deadline was checked against.
        if state.attempt_number not in waits:
            exc = state.outcome.exception() if state.outcome else None
            waits[state.attempt_number] = (
                None if exc is None else next_wait(policy, exc, state.attempt_number, deadline)
            )
        return waits[state.attempt_number]

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = float(state.upcoming_sleep or 0.0)
        log.warning(
            "SMTP2GO %s attempt %d/%d failed (%s); retrying in %.1f s",
            endpoint,
            state.attempt_number,
            policy.max_attempts,
            exc,
            wait,
        )
        if on_retry is not None:
            on_retry(exc, wait)

    return {
        "retry": tenacity.retry_if_exception_type(Exception),
        "stop": lambda state: decide(state) is None,
        "wait": lambda state: decide(state) or 0.0,
        "before_sleep": before_sleep,
        "reraise": True,
    }


def call_with_retry(
    policy: RetryPolicy,
    endpoint: str,
    attempt: Callable[[Deadline], T],
    *,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[BaseException | None, float], None] | None = None,
    deadline: Deadline | None = None,
) -> T:
    """Run ``attempt(deadline)`` under ``policy`` (sync, on tenacity); ``deadline`` is
    ``policy.start()`` by default.

    ``attempt`` must bound its own I/O by ``deadline``: tenacity only acts between attempts, so
    each attempt is handed the one ``Deadline`` of the whole call. This loop bounds the waits.

    >>> calls = []
    >>> def flaky(deadline):
    ...     calls.append(deadline.remaining() > 0)
    ...     if len(calls) < 3:
    ...         raise Smtp2goServerError("busy", status=503)
    ...     return "ok"
    >>> call_with_retry(RetryPolicy(backoff_base=0), "stats/email_cycle", flaky, sleep=lambda s: None), calls
    ('ok', [True, True, True])
    """
    import tenacity  # noqa: PLC0415

    deadline = deadline or policy.start()
    retrying = tenacity.Retrying(sleep=sleep, **_retrying_kwargs(policy, endpoint, deadline, on_retry))
    return retrying(attempt, deadline)


async def acall_with_retry(
    policy: RetryPolicy,
    endpoint: str,
    attempt: Callable[[Deadline], Awaitable[T]],
    *,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    on_retry: Callable[[BaseException | None, float], None] | None = None,
    deadline: Deadline | None = None,
) -> T:
    """Run ``await attempt(deadline)`` under ``policy`` (async); the twin of ``call_with_retry``."""
    import tenacity  # noqa: PLC0415

    deadline = deadline or policy.start()
    kwargs = _retrying_kwargs(policy, endpoint, deadline, on_retry)
    if sleep is not None:
        kwargs["sleep"] = sleep
    result: T = await tenacity.AsyncRetrying(**kwargs)(attempt, deadline)
    return result
