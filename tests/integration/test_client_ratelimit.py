"""One 429 on ``/activity/search`` must not stall the process past any caller's deadline (issue 10, finding 2).

After a 429 the process-wide activity limiter blocks every client of the account for the
(clamped) ``Retry-After``. A caller whose deadline ends sooner gets ``Smtp2goRateLimitError``
carrying the wait at once, without sleeping and without booking a slot; once the block has
passed (on the limiter's clock), calls go through again.
"""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from airflow_provider_smtp2go.client import AsyncSmtp2goClient, RetryPolicy, Smtp2goClient, Smtp2goRateLimitError
from airflow_provider_smtp2go.client.limits import IP_TIMEOUT_SECONDS, MAX_RETRY_AFTER
from airflow_provider_smtp2go.sandbox import Smtp2goSandbox

ACTIVITY = "activity/search"


def hit_one_429(sandbox: Smtp2goSandbox, retry_after: float) -> None:
    sandbox.inject_fault(ACTIVITY, status=429, retry_after=retry_after, count=1)
    with (
        Smtp2goClient(sandbox.api_key, base_url=sandbox.base_url, retry=RetryPolicy.no_retries()) as first,
        pytest.raises(Smtp2goRateLimitError),
    ):
        first.search_activity()


@pytest.mark.parametrize(
    ("retry_after", "blocked_for"),
    [(1e308, MAX_RETRY_AFTER), (math.inf, IP_TIMEOUT_SECONDS), (600, 600.0)],
    ids=["1e308", "inf", "600"],
)
def test_a_blocked_limiter_answers_at_once_within_the_callers_deadline(
    smtp2go_sandbox: Smtp2goSandbox, monkeypatch: pytest.MonkeyPatch, retry_after: float, blocked_for: float
) -> None:
    hit_one_429(smtp2go_sandbox, retry_after)
    policy = RetryPolicy.no_retries(deadline=2)
    with Smtp2goClient(smtp2go_sandbox.api_key, base_url=smtp2go_sandbox.base_url, retry=policy) as later:
        for _ in range(3):  # refused calls book nothing: the wait does not grow
            started = time.monotonic()
            with pytest.raises(Smtp2goRateLimitError) as info:
                later.search_activity()
            assert time.monotonic() - started < 1.0
            assert info.value.retry_after == pytest.approx(blocked_for, abs=1.0)
        assert smtp2go_sandbox.request_count(ACTIVITY) == 1  # nothing more reached SMTP2GO

        limiter = later._activity_limiter
        assert limiter is not None
        real_clock = limiter._clock
        monkeypatch.setattr(limiter, "_clock", lambda: real_clock() + blocked_for + 1)
        assert later.search_activity().events == []
    assert smtp2go_sandbox.request_count(ACTIVITY) == 2


def test_the_async_client_and_the_default_policy_obey_the_same_rule(smtp2go_sandbox: Smtp2goSandbox) -> None:
    hit_one_429(smtp2go_sandbox, 600)

    async def main() -> Smtp2goRateLimitError:
        policy = RetryPolicy(deadline=5)  # retries allowed: waiting 600 s is still past the deadline
        async with AsyncSmtp2goClient(smtp2go_sandbox.api_key, base_url=smtp2go_sandbox.base_url, retry=policy) as c:
            with pytest.raises(Smtp2goRateLimitError) as info:
                await c.search_activity()
            return info.value

    started = time.monotonic()
    error = asyncio.run(main())
    assert time.monotonic() - started < 1.0
    assert error.retry_after == pytest.approx(600, abs=1.0)
    assert "deadline" in str(error)
