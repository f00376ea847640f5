"""Every row of the retry table, through real HTTP to the sandbox (faults injected server-side).

The sandbox counts requests, so "retried" and "not retried" are observed, not assumed; its
arrival counts prove that no retry delivered an email twice.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator

import pytest

from airflow_provider_smtp2go.client import (
    AsyncSmtp2goClient,
    Email,
    RetryPolicy,
    Smtp2goAmbiguousSendError,
    Smtp2goApiError,
    Smtp2goAuthError,
    Smtp2goClient,
    Smtp2goRateLimitError,
    Smtp2goServerError,
    Smtp2goTransportError,
)
from airflow_provider_smtp2go.sandbox import Smtp2goSandbox

FAST = RetryPolicy(max_attempts=4, deadline=30, backoff_base=0.01, backoff_max=0.05, rate_limit_backoff=0.05)
SEND = "email/send"
ACTIVITY = "activity/search"


def mail(subject: str = "Report") -> Email:
    return Email(sender="bot@example.com", to=["ops@example.com"], subject=subject, text_body="hello")


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(smtp2go_sandbox: Smtp2goSandbox, sleeps: list[float]) -> Iterator[Smtp2goClient]:
    with Smtp2goClient(
        smtp2go_sandbox.api_key,
        base_url=smtp2go_sandbox.base_url,
        retry=FAST,
        timeout=(2, 2),
        activity_requests_per_minute=None,
    ) as c:
        real_sleep = c._sleep

        def record(seconds: float) -> None:
            sleeps.append(seconds)
            real_sleep(min(seconds, 0.05))

        c._sleep = record
        yield c


# Row: connect error / connect timeout -> retry, even for sends (the request never left).


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connect_error_is_retried_for_sends_and_nothing_is_duplicated(fake_api_key: str) -> None:
    port = free_port()
    sandbox = Smtp2goSandbox(port=port, api_key=fake_api_key)
    waits: list[float] = []
    with Smtp2goClient(fake_api_key, base_url=f"http://127.0.0.1:{port}/v3", retry=FAST) as c:

        def start_server_during_backoff(seconds: float) -> None:
            waits.append(seconds)
            sandbox.start()  # the API "comes back" while we wait

        c._sleep = start_server_during_backoff
        try:
            result = c.send(mail())
        finally:
            sandbox.stop()
    assert len(waits) == 1
    assert result.email_id
    assert sandbox.request_count(SEND) == 1
    assert not sandbox.duplicates()


def test_connect_error_after_the_budget_says_nothing_was_sent(fake_api_key: str) -> None:
    port = free_port()
    with Smtp2goClient(fake_api_key, base_url=f"http://127.0.0.1:{port}/v3", retry=FAST) as c:
        c._sleep = lambda _s: None
        with pytest.raises(Smtp2goTransportError) as excinfo:
            c.send(mail())
    assert excinfo.value.request_sent is False
    assert not isinstance(excinfo.value, Smtp2goAmbiguousSendError)


# Row: 429 -> retry, honouring Retry-After / X-RateLimit-Reset, else backing off long.


def test_429_with_retry_after_is_honoured(
    smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient, sleeps: list[float]
) -> None:
    smtp2go_sandbox.inject_fault(SEND, status=429, retry_after=3, count=1)
    assert client.send(mail()).email_id
    assert len(sleeps) == 1 and 3.0 <= sleeps[0] <= 3.3
    assert smtp2go_sandbox.request_count(SEND) == 2
    assert len(smtp2go_sandbox.messages()) == 1


def test_429_with_ratelimit_reset_header_is_honoured(
    smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient, sleeps: list[float]
) -> None:
    smtp2go_sandbox.inject_fault(ACTIVITY, status=429, retry_after=None, ratelimit_reset=4, count=1)
    client.search_activity()
    assert len(sleeps) == 1 and 2.5 <= sleeps[0] <= 4.5


def test_429_without_hint_backs_off_from_the_rate_limit_base(
    smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient, sleeps: list[float]
) -> None:
    smtp2go_sandbox.inject_fault(SEND, status=429, count=2)
    client.send(mail())
    assert len(sleeps) == 2
    assert sleeps[0] >= FAST.rate_limit_backoff and sleeps[1] >= 2 * FAST.rate_limit_backoff


def test_default_policy_waits_at_least_a_minute_after_an_unhinted_429() -> None:
    # SMTP2GO bans an IP for >= 60 s; the default must not hammer it sooner.

    assert RetryPolicy().wait_after(Smtp2goRateLimitError("429"), 1) >= 60.0


def test_429_after_the_budget_raises_rate_limit_error(smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient) -> None:
    smtp2go_sandbox.inject_fault(SEND, status=429, retry_after=1, count=10)
    with pytest.raises(Smtp2goRateLimitError) as excinfo:
        client.send(mail())
    assert excinfo.value.retry_after == 1.0
    assert smtp2go_sandbox.request_count(SEND) == FAST.max_attempts
    assert not smtp2go_sandbox.messages()


def test_deadline_stops_before_a_wait_that_would_overrun(smtp2go_sandbox: Smtp2goSandbox, fake_api_key: str) -> None:
    smtp2go_sandbox.add_api_key(fake_api_key)
    policy = RetryPolicy(max_attempts=5, deadline=10)
    smtp2go_sandbox.inject_fault(SEND, status=429, retry_after=120, count=1)
    with Smtp2goClient(fake_api_key, base_url=smtp2go_sandbox.base_url, retry=policy) as c:
        c._sleep = lambda s: pytest.fail(f"must not sleep {s}s past the deadline")
        with pytest.raises(Smtp2goRateLimitError):
            c.send(mail())
    assert smtp2go_sandbox.request_count(SEND) == 1


# Row: 503 -> retry, sends included.


@pytest.mark.parametrize("path", [SEND, ACTIVITY])
def test_503_is_retried(smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient, path: str) -> None:
    smtp2go_sandbox.inject_fault(path, status=503, count=2)
    if path == SEND:
        client.send(mail())
        assert len(smtp2go_sandbox.messages()) == 1
    else:
        client.search_activity()
    assert smtp2go_sandbox.request_count(path) == 3


def test_503_after_the_budget_raises_server_error(smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient) -> None:
    smtp2go_sandbox.inject_fault(ACTIVITY, status=503, count=10)
    with pytest.raises(Smtp2goServerError):
        client.search_activity()
    assert smtp2go_sandbox.request_count(ACTIVITY) == FAST.max_attempts


# Row: 500/502/504, unreadable body, read timeout, reset after send -> reads retry; sends are ambiguous.


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 500},
        {"status": 502},
        {"status": 504},
        {"kind": "html_502"},
        {"kind": "malformed"},
        {"kind": "drop_before"},
        {"kind": "drop_after"},
    ],
    ids=lambda f: str(f.get("status") or f.get("kind")),
)
def test_ambiguous_failures_of_a_send_are_not_retried(
    smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient, fault: dict[str, object]
) -> None:
    smtp2go_sandbox.inject_fault(SEND, count=1, **fault)  # type: ignore[arg-type]
    with pytest.raises(Smtp2goAmbiguousSendError) as excinfo:
        client.send(mail())
    assert "activity" in str(excinfo.value)
    assert smtp2go_sandbox.request_count(SEND) == 1
    if fault.get("kind") == "drop_after":
        # The sandbox processed it: the send really was ambiguous, and a blind retry would duplicate it.
        assert len(smtp2go_sandbox.messages()) == 1


def test_read_timeout_on_a_send_is_ambiguous(smtp2go_sandbox: Smtp2goSandbox, fake_api_key: str) -> None:
    smtp2go_sandbox.add_api_key(fake_api_key)
    smtp2go_sandbox.inject_fault(SEND, kind="latency", latency=1.0, count=1)
    with Smtp2goClient(fake_api_key, base_url=smtp2go_sandbox.base_url, retry=FAST, timeout=(2, 0.3)) as c:
        with pytest.raises(Smtp2goAmbiguousSendError, match="ReadTimeout"):
            c.send(mail())
    assert smtp2go_sandbox.request_count(SEND) == 1


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 500},
        {"status": 502},
        {"status": 504},
        {"kind": "html_502"},
        {"kind": "malformed"},
        {"kind": "drop_after"},
        {"kind": "latency", "latency": 1.0},
    ],
    ids=lambda f: str(f.get("status") or f.get("kind")),
)
def test_the_same_failures_of_a_read_are_retried(
    smtp2go_sandbox: Smtp2goSandbox, fake_api_key: str, fault: dict[str, object]
) -> None:
    smtp2go_sandbox.add_api_key(fake_api_key)
    smtp2go_sandbox.inject_fault(ACTIVITY, count=1, **fault)  # type: ignore[arg-type]
    with Smtp2goClient(
        fake_api_key, base_url=smtp2go_sandbox.base_url, retry=FAST, timeout=(2, 0.5), activity_requests_per_minute=None
    ) as c:
        page = c.search_activity()
    assert page.events == []
    assert smtp2go_sandbox.request_count(ACTIVITY) == 2


def test_ambiguous_sends_are_retried_when_the_user_opts_in(smtp2go_sandbox: Smtp2goSandbox, fake_api_key: str) -> None:
    smtp2go_sandbox.add_api_key(fake_api_key)
    smtp2go_sandbox.inject_fault(SEND, status=502, count=1)
    with Smtp2goClient(
        fake_api_key, base_url=smtp2go_sandbox.base_url, retry=FAST.with_changes(retry_ambiguous_sends=True)
    ) as c:
        assert c.send(mail()).email_id
    assert smtp2go_sandbox.request_count(SEND) == 2


# Row: 400/401/402/403/404 -> never retried.


def test_validation_error_from_the_api_is_not_retried(smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient) -> None:
    # A body the client's own validation would stop, sent raw to see the API's 400.
    from airflow_provider_smtp2go.client import ApiCall

    with pytest.raises(Smtp2goApiError) as excinfo:
        client.call(
            ApiCall(SEND, {"sender": "not an address", "to": ["ops@example.com"], "subject": "x", "text_body": "y"})
        )
    assert excinfo.value.status == 400
    assert excinfo.value.field_validation_errors
    assert smtp2go_sandbox.request_count(SEND) == 1


@pytest.mark.parametrize("status", [400, 402, 404])
def test_4xx_statuses_are_not_retried(smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient, status: int) -> None:
    smtp2go_sandbox.inject_fault(ACTIVITY, status=status, count=1)
    with pytest.raises(Smtp2goApiError) as excinfo:
        client.search_activity()
    assert excinfo.value.status == status
    assert smtp2go_sandbox.request_count(ACTIVITY) == 1


def test_unknown_key_is_an_auth_error_and_not_retried(smtp2go_sandbox: Smtp2goSandbox, fake_api_key: str) -> None:
    with Smtp2goClient(fake_api_key, base_url=smtp2go_sandbox.base_url, retry=FAST) as c:
        with pytest.raises(Smtp2goAuthError) as excinfo:
            c.send(mail())
    assert excinfo.value.status == 401
    assert smtp2go_sandbox.request_count(SEND) == 1
    assert not smtp2go_sandbox.messages()


def test_missing_permission_is_an_auth_error(smtp2go_sandbox: Smtp2goSandbox, fake_api_key: str) -> None:
    smtp2go_sandbox.add_api_key(fake_api_key, permissions=["/email/send"])
    with Smtp2goClient(fake_api_key, base_url=smtp2go_sandbox.base_url, retry=FAST) as c:
        assert c.send(mail()).email_id
        with pytest.raises(Smtp2goAuthError, match="permission"):
            c.search_activity()
    assert smtp2go_sandbox.request_count(ACTIVITY) == 1


def test_each_retry_is_logged_at_warning_without_the_key(
    smtp2go_sandbox: Smtp2goSandbox, fake_api_key: str, caplog: pytest.LogCaptureFixture
) -> None:
    smtp2go_sandbox.add_api_key(fake_api_key)
    smtp2go_sandbox.inject_fault(SEND, status=503, count=2)
    caplog.set_level(logging.DEBUG)
    with Smtp2goClient(fake_api_key, base_url=smtp2go_sandbox.base_url, retry=FAST) as c:
        c.send(mail())
    retries = [r for r in caplog.records if r.levelno == logging.WARNING and "retrying" in r.getMessage()]
    assert len(retries) == 2
    assert "email/send" in retries[0].getMessage()
    assert all(fake_api_key not in r.getMessage() for r in caplog.records)


# The async client follows the same table.


def test_async_client_follows_the_same_table(smtp2go_sandbox: Smtp2goSandbox, fake_api_key: str) -> None:
    smtp2go_sandbox.add_api_key(fake_api_key)

    async def scenario() -> None:
        async with AsyncSmtp2goClient(
            fake_api_key, base_url=smtp2go_sandbox.base_url, retry=FAST, activity_requests_per_minute=None
        ) as c:
            smtp2go_sandbox.inject_fault(SEND, status=503, count=1)
            assert (await c.send(mail("retried"))).email_id
            smtp2go_sandbox.inject_fault(SEND, status=502, count=1)
            with pytest.raises(Smtp2goAmbiguousSendError):
                await c.send(mail("ambiguous"))
            smtp2go_sandbox.inject_fault(SEND, kind="drop_after", count=1)
            with pytest.raises(Smtp2goAmbiguousSendError):
                await c.send(mail("dropped"))
            smtp2go_sandbox.inject_fault(ACTIVITY, status=429, retry_after=0.1, count=1)
            await c.search_activity()
            smtp2go_sandbox.inject_fault(ACTIVITY, status=400, count=1)
            with pytest.raises(Smtp2goApiError):
                await c.search_activity()

    asyncio.run(scenario())
    assert smtp2go_sandbox.request_count(SEND) == 4  # 503+retry, 502, drop_after
    assert smtp2go_sandbox.request_count(ACTIVITY) == 3
    assert [m.subject for m in smtp2go_sandbox.messages()] == ["retried", "dropped"]


def test_async_connect_error_is_retried_then_reported_as_not_sent(fake_api_key: str) -> None:
    port = free_port()

    async def scenario() -> Smtp2goTransportError:
        async with AsyncSmtp2goClient(fake_api_key, base_url=f"http://127.0.0.1:{port}/v3", retry=FAST) as c:
            with pytest.raises(Smtp2goTransportError) as excinfo:
                await c.send(mail())
            return excinfo.value

    error = asyncio.run(scenario())
    assert error.request_sent is False
