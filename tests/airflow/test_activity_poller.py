"""The shared activity poller against the sandbox over real HTTP. No Airflow DB needed.

Time is driven by the sandbox clock ("opened 30 s after delivery" becomes visible after
``sb.clock.advance(31)``) and by an injected ``sleep`` that records the delays the poller asks
for, so nothing here waits for real.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from airflow_provider_smtp2go.activity_watch import (
    PollerRegistry,
    SharedActivityPoller,
    WaitCondition,
    evaluate,
)
from airflow_provider_smtp2go.activity_watch.poller import client_account_key
from airflow_provider_smtp2go.client import Email, RetryPolicy, Smtp2goClient, Smtp2goRateLimitError
from airflow_provider_smtp2go.client.aio import AsyncSmtp2goClient
from airflow_provider_smtp2go.sandbox import Smtp2goSandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Smtp2goSandbox]:
    with Smtp2goSandbox() as sb:
        yield sb


@pytest.fixture
def sb(sandbox: Smtp2goSandbox) -> Iterator[Smtp2goSandbox]:
    sandbox.reset()
    yield sandbox
    sandbox.reset()


def send_many(sb: Smtp2goSandbox, recipients: list[str]) -> list[str]:
    with Smtp2goClient(sb.api_key, base_url=sb.base_url) as client:
        return [
            client.send(Email(sender="ops@example.com", to=[r], subject="Hi", text_body="Hello")).email_id
            for r in recipients
        ]


def async_client(sb: Smtp2goSandbox, retry: RetryPolicy | None = None) -> AsyncSmtp2goClient:
    # No client-side limiter: these tests count requests, the poller's own pacing is under test.
    return AsyncSmtp2goClient(
        sb.api_key, base_url=sb.base_url, retry=retry or RetryPolicy.no_retries(), activity_requests_per_minute=None
    )


class RecordingSleep:
    """Records each requested delay and yields to the loop instead of sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0.005)


def test_one_request_per_chunk_per_interval_fanned_out_to_every_waiter(sb: Smtp2goSandbox) -> None:
    ids = send_many(sb, [f"user{i}+open-30s@example.com" for i in range(150)])
    sleep = RecordingSleep()

    async def scenario() -> None:
        poller = SharedActivityPoller(async_client(sb), requests_per_minute=60_000, chunk_size=100, sleep=sleep)
        conds = [WaitCondition.create(email_ids=[i], event_types=["opened"]) for i in ids]
        watches = [poller.watch(c, poll_interval=5) for c in conds]
        first = await asyncio.gather(*(w.next() for w in watches))
        assert sb.request_count("activity/search") == 2  # 150 ids -> 2 chunks, not 150 requests
        assert all(evaluate(c, r.events).status == "waiting" for c, r in zip(conds, first, strict=True))
        # Only watched types are asked for (opened + failure types): nothing yet.
        assert all(r.events == () for r in first)

        sb.clock.advance(31)
        second = await asyncio.gather(*(w.next() for w in watches))
        assert sb.request_count("activity/search") == 4
        outcomes = [evaluate(c, r.events) for c, r in zip(conds, second, strict=True)]
        assert {o.status for o in outcomes} == {"satisfied"}
        # Each waiter got exactly its own email's open, no one else's.
        own = [[(e.email_id, e.event) for e in r.events] for r in second]
        assert own == [[(c.email_ids[0], "opened")] for c in conds]
        assert poller.stats.requests_per_cycle == [2, 2]
        for w in watches:
            w.close()
        await asyncio.sleep(0.05)
        assert poller.watch_count == 0
        assert poller._task is None  # stopped once the last waiter left

    asyncio.run(scenario())
    # It slept before the very first poll too (the sensor has just poked before deferring).
    assert sleep.delays[:2] == [5, 5]


def test_interval_is_stretched_to_stay_within_the_budget(sb: Smtp2goSandbox) -> None:
    ids = send_many(sb, [f"u{i}@example.com" for i in range(3)])
    sleep = RecordingSleep()

    async def scenario() -> None:
        # 3 ids, chunk 1 -> 3 requests per cycle; 30/min share -> a cycle may start every 6 s.
        poller = SharedActivityPoller(async_client(sb), requests_per_minute=30, chunk_size=1, sleep=sleep)
        watches = [
            poller.watch(WaitCondition.create(email_ids=[i], event_types=["opened"]), poll_interval=0.1) for i in ids
        ]
        for _ in range(2):
            await asyncio.gather(*(w.next() for w in watches))
        for w in watches:
            w.close()

    asyncio.run(scenario())
    assert sleep.delays[0] == 0.1
    assert sleep.delays[1] == pytest.approx(6.0)


def test_a_429_pauses_every_waiter_together(sb: Smtp2goSandbox) -> None:
    ids = send_many(sb, [f"u{i}@example.com" for i in range(4)])
    sleep = RecordingSleep()

    async def scenario() -> None:
        poller = SharedActivityPoller(async_client(sb), requests_per_minute=60_000, chunk_size=2, sleep=sleep)
        conds = [WaitCondition.create(email_ids=[i], event_types=["opened"]) for i in ids]
        watches = [poller.watch(c, poll_interval=1) for c in conds]
        sb.inject_fault("activity/search", status=429, retry_after=42, count=1)
        results = await asyncio.gather(*(w.next() for w in watches))
        # The first chunk got the 429; the second chunk was not even tried.
        assert sb.request_count("activity/search") == 1
        assert all(r.rate_limited and isinstance(r.error, Smtp2goRateLimitError) for r in results)
        assert {r.retry_in for r in results} == {42.0}
        recovered = await asyncio.gather(*(w.next() for w in watches))
        assert all(r.error is None for r in recovered)
        assert sb.request_count("activity/search") == 3
        for w in watches:
            w.close()

    asyncio.run(scenario())
    assert sleep.delays[:2] == [1, 42.0]  # everyone waited Retry-After, once


def test_failed_polls_reach_their_waiters_and_back_off(sb: Smtp2goSandbox) -> None:
    ids = send_many(sb, ["u1@example.com"])
    sleep = RecordingSleep()
    # The poller's waits come from its client's policy (no retries inside a poll, same backoff).
    policy = RetryPolicy.no_retries(backoff_base=8, backoff_max=100)

    async def scenario() -> None:
        poller = SharedActivityPoller(async_client(sb, policy), requests_per_minute=60_000, sleep=sleep)
        watch = poller.watch(WaitCondition.create(email_ids=ids), poll_interval=2)
        sb.inject_fault("activity/search", status=500, count=2)
        first, second = await watch.next(), await watch.next()
        assert first.error is not None and second.error is not None
        assert "500" in str(first.error)
        third = await watch.next()
        assert third.error is None
        assert evaluate(watch.condition, third.events).status == "satisfied"  # delivered
        watch.close()

    asyncio.run(scenario())
    assert sb.request_count("activity/search") == 3  # no hidden client retries inside a poll
    first_wait, second_wait, after_recovery = sleep.delays[1:4]
    assert 4 <= first_wait <= 8  # policy.wait(1): up to backoff_base, with jitter
    assert 8 <= second_wait <= 16  # policy.wait(2): doubled
    assert after_recovery == 2  # back to the interval once a poll worked


def test_the_poller_never_changes_its_clients_retry_policy(sb: Smtp2goSandbox) -> None:
    async def scenario() -> None:
        retrying = async_client(sb, RetryPolicy(max_attempts=5))
        with pytest.raises(ValueError, match="no_retries"):
            SharedActivityPoller(retrying)
        assert retrying.retry_policy == RetryPolicy(max_attempts=5)  # refused, not rewritten
        await retrying.aclose()
        one_shot = async_client(sb)
        policy = one_shot.retry_policy
        poller = SharedActivityPoller(one_shot)
        assert poller.client.retry_policy is policy
        await one_shot.aclose()

    asyncio.run(scenario())


def test_a_429_without_retry_after_backs_off_by_the_policy_not_a_poller_constant(sb: Smtp2goSandbox) -> None:
    ids = send_many(sb, ["u1@example.com"])
    sleep = RecordingSleep()
    policy = RetryPolicy.no_retries(rate_limit_backoff=7, rate_limit_backoff_max=20)

    async def scenario() -> None:
        poller = SharedActivityPoller(async_client(sb, policy), requests_per_minute=60_000, sleep=sleep)
        watch = poller.watch(WaitCondition.create(email_ids=ids), poll_interval=1)
        sb.inject_fault("activity/search", status=429, count=3)
        for _ in range(3):
            assert (await watch.next()).rate_limited
        assert (await watch.next()).error is None
        watch.close()

    asyncio.run(scenario())
    waits = sleep.delays[1:4]
    # 7, 14, then capped at 20 (jitter adds up to a quarter): SMTP2GO's IP time-out by default.
    assert 7 <= waits[0] <= 8.75 and 14 <= waits[1] <= 17.5 and 20 <= waits[2] <= 25


def test_registry_shares_one_poller_per_account_and_closes_spare_clients(sb: Smtp2goSandbox) -> None:
    ids = send_many(sb, ["u1@example.com", "u2@example.com"])
    other_key = "api-" + "Q" * 32
    sb.add_api_key(other_key)

    async def scenario() -> None:
        registry = PollerRegistry()
        first_client, second_client = async_client(sb), async_client(sb)
        w1 = await registry.watch_client(first_client, WaitCondition.create(email_ids=ids[:1]), poll_interval=0.05)
        w2 = await registry.watch_client(second_client, WaitCondition.create(email_ids=ids[1:]), poll_interval=0.05)
        assert w1.poller is w2.poller
        assert second_client._http.is_closed  # the running poller already has a client
        other = AsyncSmtp2goClient(
            other_key, base_url=sb.base_url, retry=RetryPolicy.no_retries(), activity_requests_per_minute=None
        )
        w3 = await registry.watch_client(other, WaitCondition.create(email_ids=ids[:1]), poll_interval=0.05)
        assert w3.poller is not w1.poller  # another account, another budget
        results = await asyncio.gather(w1.next(), w2.next(), w3.next())
        assert all(r.error is None for r in results)
        for w in (w1, w2, w3):
            w.close()
        await asyncio.sleep(0.05)
        assert first_client._http.is_closed and other._http.is_closed
        assert registry.poller_for(client_account_key(first_client)) is None

    asyncio.run(scenario())


def test_a_poll_that_could_not_read_every_page_is_marked_partial(sb: Smtp2goSandbox) -> None:
    ids = send_many(sb, [f"u{i}@example.com" for i in range(3)])
    sleep = RecordingSleep()

    async def scenario() -> tuple[bool, int]:
        poller = SharedActivityPoller(
            async_client(sb), requests_per_minute=60_000, page_size=2, max_pages=1, sleep=sleep
        )
        watch = poller.watch(WaitCondition.create(email_ids=ids), poll_interval=1)
        result = await watch.next()
        watch.close()
        return result.partial, len(result.events)

    # Three delivered events, pages of two, one page allowed: the waiter hears it saw only part.
    assert asyncio.run(scenario()) == (True, 2)
