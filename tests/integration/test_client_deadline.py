"""``deadline`` is a wall-clock bound on the whole call, whatever the server does (issue 10, finding 1).

The sandbox's ``trickle`` fault writes its answer (status line and headers included) at a few
bytes a second, so no single socket read ever times out; ``hang`` accepts the request and never
answers. Either way a call must end within ``deadline`` + 1 s: sync and async, sends and reads,
with one attempt or several.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_smtp2go.client import (
    AsyncSmtp2goClient,
    Email,
    RetryPolicy,
    Smtp2goAmbiguousSendError,
    Smtp2goClient,
    Smtp2goTransportError,
)
from airflow_provider_smtp2go.sandbox import Smtp2goSandbox

DEADLINE = 3.0
BOUND = DEADLINE + 1.0  # the README's promise: deadline + 1 s
ONE_ATTEMPT = RetryPolicy(max_attempts=1, deadline=DEADLINE)
RETRIES = RetryPolicy(max_attempts=5, deadline=DEADLINE, backoff_base=0.2, retry_ambiguous_sends=True)


def fault(sandbox: Smtp2goSandbox, path: str, kind: str) -> None:
    extra: dict[str, Any] = {"bytes_per_second": 2} if kind == "trickle" else {}
    sandbox.inject_fault(path, kind=kind, count=20, **extra)


def mail() -> Email:
    return Email(sender="bot@example.com", to=["ops@example.com"], subject="deadline", text_body="x")


def sync_call(sandbox: Smtp2goSandbox, policy: RetryPolicy, what: str) -> Callable[[], object]:
    def run() -> object:
        with Smtp2goClient(
            sandbox.api_key, base_url=sandbox.base_url, timeout=(2, 2), retry=policy, activity_requests_per_minute=None
        ) as client:
            return client.send(mail()) if what == "send" else client.email_summary()

    return run


def async_call(sandbox: Smtp2goSandbox, policy: RetryPolicy, what: str) -> Callable[[], object]:
    async def main() -> object:
        async with AsyncSmtp2goClient(
            sandbox.api_key, base_url=sandbox.base_url, timeout=(2, 2), retry=policy, activity_requests_per_minute=None
        ) as client:
            return await (client.send(mail()) if what == "send" else client.email_summary())

    return lambda: asyncio.run(main())


TRANSPORTS = {"sync": sync_call, "async": async_call}


def timed_failure(run: Callable[[], object]) -> tuple[BaseException, float]:
    started = time.monotonic()
    with pytest.raises(Smtp2goTransportError) as info:
        run()
    return info.value, time.monotonic() - started


@pytest.mark.parametrize("kind", ["trickle", "hang"])
@pytest.mark.parametrize("what", ["send", "read"])
@pytest.mark.parametrize("transport", ["sync", "async"])
def test_one_attempt_ends_within_the_deadline(
    smtp2go_sandbox: Smtp2goSandbox, transport: str, what: str, kind: str
) -> None:
    path = "email/send" if what == "send" else "stats/email_summary"
    fault(smtp2go_sandbox, path, kind)
    error, elapsed = timed_failure(TRANSPORTS[transport](smtp2go_sandbox, ONE_ATTEMPT, what))
    assert elapsed < BOUND, f"{transport} {what} under {kind} took {elapsed:.1f} s"
    # A send cut off after it left may have been accepted; a read is a plain transport error.
    assert isinstance(error, Smtp2goAmbiguousSendError) is (what == "send")
    assert smtp2go_sandbox.request_count(path) == 1


@pytest.mark.parametrize(("what", "kind"), [("send", "hang"), ("read", "hang"), ("read", "trickle")])
@pytest.mark.parametrize("transport", ["sync", "async"])
def test_retries_share_one_deadline(smtp2go_sandbox: Smtp2goSandbox, transport: str, what: str, kind: str) -> None:
    path = "email/send" if what == "send" else "stats/email_summary"
    fault(smtp2go_sandbox, path, kind)
    _, elapsed = timed_failure(TRANSPORTS[transport](smtp2go_sandbox, RETRIES, what))
    assert elapsed < BOUND, f"{transport} {what} under {kind} with retries took {elapsed:.1f} s"
    if kind == "hang":  # each attempt ended on its 2 s read timeout: a second one was made
        assert smtp2go_sandbox.request_count(path) >= 2
