"""The one retry policy, shared by the sync and async clients (built on tenacity).

| what happened                         | read-only call | send (email/send, email/mime)        |
|---------------------------------------|----------------|--------------------------------------|
| connect error / timeout (never left)  | retry          | retry                                |
| 429                                   | retry after Retry-After / X-RateLimit-Reset, else from 60 s |
| 503                                   | retry          | retry                                |
| 500/502/504, read timeout, reset      | retry          | Smtp2goAmbiguousSendError (opt-in)   |
| 400/401/402/403/404, 200-with-failure | never          | never (errors feed SMTP2GO's IP ban) |

Every retry is bounded by ``max_attempts`` and by ``deadline`` (seconds, waits included):
no wait is started that would end past the deadline.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_provider_smtp2go.client.errors import (
    Smtp2goAmbiguousSendError,
    Smtp2goRateLimitError,
    Smtp2goServerError,
    Smtp2goTransportError,
)

if TYPE_CHECKING:
    import tenacity

log = logging.getLogger("airflow_provider_smtp2go.client")

T = TypeVar("T")
# Seeding a Random costs ~20 µs; one shared generator is enough for jitter.
_jitter = random.Random()


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. All durations are seconds.

    >>> RetryPolicy(max_attempts=3, deadline=30).max_attempts
    3
    >>> RetryPolicy.no_retries().max_attempts
    1
    """

    max_attempts: int = 5
    deadline: float = 300.0
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    # SMTP2GO times out an IP for at least a minute; retrying sooner only extends the ban.
    rate_limit_backoff: float = 60.0
    rate_limit_backoff_max: float = 300.0
    retry_ambiguous_sends: bool = False

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.deadline <= 0:
            raise ValueError("deadline must be > 0")

    @classmethod
    def no_retries(cls) -> RetryPolicy:
        return cls(max_attempts=1)

    def with_changes(self, **changes: Any) -> RetryPolicy:
        return replace(self, **changes)

    def should_retry(self, exc: BaseException) -> bool:
        """The retry table above, as a predicate."""
        if isinstance(exc, Smtp2goAmbiguousSendError):
            return self.retry_ambiguous_sends
        return isinstance(exc, (Smtp2goTransportError, Smtp2goRateLimitError, Smtp2goServerError))

    def wait_for(self, exc: BaseException | None, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed ``attempt`` (1-based)."""
        if isinstance(exc, Smtp2goRateLimitError):
            if exc.retry_after is not None:
                # A little jitter so many waiting workers do not return in the same instant.
                return float(exc.retry_after) + rng.uniform(0, min(1.0, 0.1 * exc.retry_after))
            base = min(self.rate_limit_backoff_max, self.rate_limit_backoff * 2 ** (attempt - 1))
            return float(base * rng.uniform(1.0, 1.25))
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return float(ceiling * rng.uniform(0.5, 1.0))


def _describe(retry_state: tenacity.RetryCallState) -> tuple[BaseException | None, float]:
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    return exc, float(retry_state.upcoming_sleep or 0.0)


def _retrying_kwargs(
    policy: RetryPolicy,
    endpoint: str,
    on_retry: Callable[[BaseException | None, float], None] | None,
) -> dict[str, Any]:
    def wait(retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        return policy.wait_for(exc, retry_state.attempt_number, _jitter)

    def before_sleep(retry_state: tenacity.RetryCallState) -> None:
        exc, sleep = _describe(retry_state)
        log.warning(
            "SMTP2GO %s attempt %d/%d failed (%s); retrying in %.1f s",
            endpoint,
            retry_state.attempt_number,
            policy.max_attempts,
            exc,
            sleep,
        )
        if on_retry is not None:
            on_retry(exc, sleep)

    import tenacity  # noqa: PLC0415 - on first call: importing the client must stay cheap

    return {
        "stop": tenacity.stop_after_attempt(policy.max_attempts) | tenacity.stop_before_delay(policy.deadline),
        "wait": wait,
        "retry": tenacity.retry_if_exception(policy.should_retry),
        "before_sleep": before_sleep,
        "reraise": True,
    }


def call_with_retry(
    policy: RetryPolicy,
    endpoint: str,
    attempt: Callable[[], T],
    *,
    sleep: Callable[[float], None] | None = None,
    on_retry: Callable[[BaseException | None, float], None] | None = None,
) -> T:
    """Run ``attempt`` under ``policy`` (sync)."""
    import tenacity  # noqa: PLC0415

    kwargs = _retrying_kwargs(policy, endpoint, on_retry)
    if sleep is not None:
        kwargs["sleep"] = sleep
    return tenacity.Retrying(**kwargs)(attempt)


async def acall_with_retry(
    policy: RetryPolicy,
    endpoint: str,
    attempt: Callable[[], Awaitable[T]],
    *,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    on_retry: Callable[[BaseException | None, float], None] | None = None,
) -> T:
    """Run ``attempt`` under ``policy`` (async)."""
    import tenacity  # noqa: PLC0415

    kwargs = _retrying_kwargs(policy, endpoint, on_retry)
    if sleep is not None:
        kwargs["sleep"] = sleep
    result: T = await tenacity.AsyncRetrying(**kwargs)(attempt)
    return result
