"""``Smtp2goActivityTrigger`` and ``Smtp2goActivityEventTrigger`` against the sandbox (no Airflow DB).

The connection comes from ``AIRFLOW_CONN_SMTP2GO_DEFAULT``; time from the sandbox clock.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from airflow_provider_smtp2go.activity_watch import PollerRegistry
from airflow_provider_smtp2go.activity_watch.poller import account_key
from airflow_provider_smtp2go.client import Email, Smtp2goClient
from airflow_provider_smtp2go.client.regions import resolve_base_url
from airflow_provider_smtp2go.sandbox import Smtp2goSandbox
from airflow_provider_smtp2go.triggers import smtp2go as trigger_module
from airflow_provider_smtp2go.triggers.smtp2go import Smtp2goActivityEventTrigger, Smtp2goActivityTrigger


@pytest.fixture
def sb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Smtp2goSandbox]:
    # A fresh sandbox (and API key) per test: the client's per-key limiter starts empty.
    with Smtp2goSandbox() as sandbox:
        conn = {"conn_type": "smtp2go", "password": sandbox.api_key, "extra": {"base_url": sandbox.base_url}}
        monkeypatch.setenv("AIRFLOW_CONN_SMTP2GO_DEFAULT", json.dumps(conn))
        yield sandbox


def send(sb: Smtp2goSandbox, *recipients: str) -> list[str]:
    with Smtp2goClient(sb.api_key, base_url=sb.base_url) as client:
        return [
            client.send(Email(sender="ops@example.com", to=[r], subject="Report", text_body="Hi")).email_id
            for r in recipients
        ]


def fast(**kwargs: Any) -> dict[str, Any]:
    return {"poll_interval": 0.05, "requests_per_minute": 6000, **kwargs}


async def wait_for_requests(sb: Smtp2goSandbox, n: int, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while sb.request_count("activity/search") < n:
        assert loop.time() < deadline, "the trigger never polled"
        await asyncio.sleep(0.01)


async def first_and_only(gen: AsyncIterator[Any]) -> Any:
    event = await gen.__anext__()
    with pytest.raises(StopAsyncIteration):  # exactly one terminal event
        await gen.__anext__()
    return event


def test_serialize_round_trips_exactly() -> None:
    trigger = Smtp2goActivityTrigger(
        email_ids=["1u0SwL-B9zBpi9ffUq-JAB2", "1u0SwL-B9zBpi9ffUq-JAB3"],
        event_types=["opened", "clicked"],
        failure_event_types=["hard-bounced"],
        match="any",
        since="2026-11-26T12:00:00+02:00",
        smtp2go_conn_id="mail",
        poll_interval=90,
        max_consecutive_failures=7,
        history_days=60,
        requests_per_minute=20,
        chunk_size=50,
        source="auto",
        webhook_account="marketing",
        webhook_interval=2,
    )
    classpath, kwargs = trigger.serialize()
    json.dumps(kwargs)  # plain JSON: the triggerer stores it in the DB
    module, name = classpath.rsplit(".", 1)
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert kwargs == {
        "email_ids": ["1u0SwL-B9zBpi9ffUq-JAB2", "1u0SwL-B9zBpi9ffUq-JAB3"],
        "search_recipient": None,
        "search_sender": None,
        "search_subject": None,
        "event_types": ["opened", "clicked"],
        "failure_event_types": ["hard-bounced"],
        "match": "any",
        "since": "2026-11-26T10:00:00+00:00",
        "smtp2go_conn_id": "mail",
        "poll_interval": 90.0,
        "max_consecutive_failures": 7,
        "history_days": 60.0,
        "requests_per_minute": 20.0,
        "chunk_size": 50,
        "source": "auto",
        "webhook_account": "marketing",
        "webhook_interval": 2.0,
    }
    search = Smtp2goActivityTrigger(search_recipient="ops@example.com", event_types=["hard-bounced"])
    assert Smtp2goActivityTrigger(**search.serialize()[1]).serialize() == search.serialize()


def test_event_trigger_serialize_round_trips_exactly() -> None:
    trigger = Smtp2goActivityEventTrigger(event_types=["hard-bounced", "spam"], search_sender="news@", lookback=600)
    classpath, kwargs = trigger.serialize()
    assert Smtp2goActivityEventTrigger(**kwargs).serialize() == (classpath, kwargs)
    same = Smtp2goActivityEventTrigger(event_types=["hard-bounced", "spam"], search_sender="news@", lookback=600)
    assert same.shared_stream_key() == trigger.shared_stream_key()
    other = Smtp2goActivityEventTrigger(event_types=["hard-bounced"], search_sender="news@", lookback=600)
    assert other.shared_stream_key() != trigger.shared_stream_key()


def test_opened_after_30s_of_sandbox_time_yields_one_success_event(sb: Smtp2goSandbox) -> None:
    (email_id,) = send(sb, "reader+open-30s@example.com")

    async def scenario() -> Any:
        trigger = Smtp2goActivityTrigger(email_ids=[email_id], event_types=["opened"], **fast())
        gen = trigger.run()
        task = asyncio.ensure_future(first_and_only(gen))
        await wait_for_requests(sb, 2)  # it polled, and polled again: still waiting
        assert not task.done()
        sb.clock.advance(31)
        return await asyncio.wait_for(task, 10)

    event = asyncio.run(scenario())
    payload = event.payload
    assert payload["status"] == "success"
    assert payload["email_ids"] == [email_id]
    assert [(e["email_id"], e["event"]) for e in payload["events"]] == [(email_id, "opened")]
    assert payload["polls"] >= 3


def test_a_bounce_ends_the_wait_with_a_failure_naming_email_and_event(sb: Smtp2goSandbox) -> None:
    ok, bounced = send(sb, "reader+open@example.com", "gone+hard-bounce@example.com")

    async def scenario() -> Any:
        trigger = Smtp2goActivityTrigger(email_ids=[ok, bounced], event_types=["opened"], **fast())
        return await asyncio.wait_for(first_and_only(trigger.run()), 10)

    payload = asyncio.run(scenario()).payload
    assert payload["status"] == "failed"
    assert f"email {bounced} was hard-bounced" in payload["message"]
    assert set(payload["failure_event"]) == {"email_id", "event", "date"}
    assert payload["failure_event"]["email_id"] == bounced
    assert "gone+hard-bounce@example.com" not in json.dumps(payload)  # Airflow logs payloads at INFO


def test_the_event_payload_holds_ids_types_and_dates_only(sb: Smtp2goSandbox) -> None:
    ids = send(sb, "alice+open@example.com", "bob+open@example.com")

    async def scenario() -> Any:
        trigger = Smtp2goActivityTrigger(email_ids=ids, event_types=["delivered", "opened"], **fast())
        return await asyncio.wait_for(first_and_only(trigger.run()), 10)

    payload = asyncio.run(scenario()).payload
    assert payload["status"] == "success"
    assert payload["events"] and all(set(e) == {"email_id", "event", "date"} for e in payload["events"])
    text = json.dumps(payload)
    for personal in ("alice", "bob", "Report", "ops@example.com", "user_agent", "outbound_ip", "smtp_response"):
        assert personal not in text


def test_progress_is_logged_on_change_and_at_most_once_a_minute_otherwise(
    sb: Smtp2goSandbox, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    first, second = send(sb, "a+open@example.com", "b+open-30s@example.com")
    clock = [1000.0]

    async def scenario() -> Any:
        trigger = Smtp2goActivityTrigger(email_ids=[first, second], event_types=["opened"], **fast())
        trigger._clock = lambda: clock[0]
        task = asyncio.ensure_future(first_and_only(trigger.run()))
        await wait_for_requests(sb, 4)  # four polls, one state: one line
        clock[0] += 61
        await wait_for_requests(sb, sb.request_count("activity/search") + 2)  # a minute later: once more
        sb.clock.advance(31)
        return await asyncio.wait_for(task, 10)

    with caplog.at_level(logging.INFO):
        assert asyncio.run(scenario()).payload["status"] == "success"
    # Airflow 3 logs triggers through structlog (stdout here), Airflow 2 through logging, whose
    # console handler also writes to stdout: the same line may come through both.
    logged = capsys.readouterr().out.splitlines() + [r.getMessage() for r in caplog.records]
    found = [line[line.index("SMTP2GO activity:") :] for line in logged if "SMTP2GO activity:" in line]
    lines = list(dict.fromkeys(found))
    waiting = [line for line in lines if "waiting for opened" in line]
    assert len(waiting) == 2, lines
    assert f"SMTP2GO activity: 1 of 2 emails opened; waiting for opened on {second} (poll 1)" in waiting[0]
    assert "b+open-30s@example.com" not in "\n".join(lines)
    assert "met (after" in lines[-1]


def test_the_poll_loop_and_its_client_count_one_budget(sb: Smtp2goSandbox) -> None:
    (email_id,) = send(sb, "reader@example.com")
    account = account_key(sb.api_key, resolve_base_url(None, sb.base_url))

    async def scenario() -> tuple[float, int, int]:
        trigger = Smtp2goActivityTrigger(
            email_ids=[email_id], event_types=["opened"], poll_interval=30, requests_per_minute=12
        )
        task = asyncio.ensure_future(trigger.run().__anext__())
        while (poller := trigger_module.shared_pollers.poller_for(account)) is None:
            await asyncio.sleep(0.01)
        client = poller.client
        share = poller.requests_per_minute, client._activity_limiter.limit, client.retry_policy.max_attempts
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return share

    # The explicit share reaches the poller and the limiter of the client it polls with; that
    # client makes one attempt per poll (the poll loop is the retry loop).
    assert asyncio.run(scenario()) == (12.0, 12, 1)


def test_consecutive_failures_are_bounded(sb: Smtp2goSandbox) -> None:
    (email_id,) = send(sb, "reader@example.com")
    sb.inject_fault("activity/search", status=500, count=50)

    async def scenario() -> Any:
        trigger = Smtp2goActivityTrigger(email_ids=[email_id], max_consecutive_failures=3, **fast())
        return await asyncio.wait_for(first_and_only(trigger.run()), 10)

    payload = asyncio.run(scenario()).payload
    assert payload["status"] == "error"
    assert payload["permanent"] is False
    assert "failed 3 times in a row" in payload["message"]
    assert sb.request_count("activity/search") == 3  # one request per poll, then it stopped


def test_a_transient_failure_resets_the_counter(sb: Smtp2goSandbox) -> None:
    (email_id,) = send(sb, "reader@example.com")
    sb.inject_fault("activity/search", status=503, count=2)

    async def scenario() -> Any:
        trigger = Smtp2goActivityTrigger(email_ids=[email_id], max_consecutive_failures=3, **fast())
        return await asyncio.wait_for(first_and_only(trigger.run()), 10)

    assert asyncio.run(scenario()).payload["status"] == "success"


def test_a_bad_key_fails_at_once_without_leaking_it(sb: Smtp2goSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_key = "api-" + "K" * 16 + "Z" * 16
    conn = {"conn_type": "smtp2go", "password": fake_key, "extra": {"base_url": sb.base_url}}
    monkeypatch.setenv("AIRFLOW_CONN_SMTP2GO_DEFAULT", json.dumps(conn))

    async def scenario() -> Any:
        trigger = Smtp2goActivityTrigger(email_ids=["anything"], **fast())
        return await asyncio.wait_for(first_and_only(trigger.run()), 10)

    payload = asyncio.run(scenario()).payload
    assert payload["status"] == "error"
    assert payload["permanent"] is True
    assert sb.request_count("activity/search") == 1
    assert fake_key not in json.dumps(payload)


class SteppedSleep:
    """An injected sleep that returns only when the test says so, recording each delay."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self._sleepers: list[asyncio.Future[None]] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        sleeper = asyncio.get_running_loop().create_future()
        self._sleepers.append(sleeper)
        await sleeper

    async def started(self, n: int) -> None:
        for _ in range(500):
            if len(self.delays) >= n:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"sleep was called {len(self.delays)} times, expected {n}")

    def end_one(self) -> None:
        self._sleepers.pop(0).set_result(None)


def test_it_always_sleeps_between_polls(sb: Smtp2goSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    (email_id,) = send(sb, "reader@example.com")
    sleep = SteppedSleep()
    monkeypatch.setattr(trigger_module, "shared_pollers", PollerRegistry(sleep=sleep))

    async def scenario() -> None:
        trigger = Smtp2goActivityTrigger(
            email_ids=[email_id], event_types=["opened"], poll_interval=0.25, requests_per_minute=6000
        )
        task = asyncio.ensure_future(first_and_only(trigger.run()))
        for polls in range(4):
            await sleep.started(polls + 1)
            # Every poll, the first one too, comes after a whole sleep of the interval.
            assert sb.request_count("activity/search") == polls
            assert sleep.delays[-1] == 0.25
            sleep.end_one()
            await wait_for_requests(sb, polls + 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())


def test_two_hundred_triggers_share_two_requests_per_interval(sb: Smtp2goSandbox) -> None:
    ids = send(sb, *[f"u{i}+open-30s@example.com" for i in range(200)])

    async def scenario() -> list[Any]:
        triggers = [Smtp2goActivityTrigger(email_ids=[i], event_types=["opened"], **fast()) for i in ids]
        tasks = [asyncio.ensure_future(first_and_only(t.run())) for t in triggers]
        await wait_for_requests(sb, 2)
        await asyncio.sleep(0.2)
        sb.clock.advance(31)
        return await asyncio.wait_for(asyncio.gather(*tasks), 30)

    events = asyncio.run(scenario())
    assert {e.payload["status"] for e in events} == {"success"}
    requests = sb.request_count("activity/search")
    # Shared: two chunks of 100 ids per poll (200 requests per poll if each trigger polled).
    # Not always an even total: a poll straddling the clock advance ends one chunk's waiters
    # only, and the next poll then asks for the other chunk alone.
    assert 2 <= requests <= 2 * 10


def test_event_trigger_fires_once_per_new_bounce(sb: Smtp2goSandbox) -> None:
    async def scenario() -> list[Any]:
        trigger = Smtp2goActivityEventTrigger(event_types=["hard-bounced"], poll_interval=0.05)
        gen = trigger.run()
        first = asyncio.ensure_future(gen.__anext__())
        await wait_for_requests(sb, 1)
        send(sb, "a+hard-bounce@example.com", "b@example.com")
        one = await asyncio.wait_for(first, 10)
        second = asyncio.ensure_future(gen.__anext__())
        await wait_for_requests(sb, sb.request_count("activity/search") + 3)  # same bounce seen again: no event
        assert not second.done()
        send(sb, "c+hard-bounce@example.com")
        two = await asyncio.wait_for(second, 10)
        await gen.aclose()
        return [one, two]

    one, two = asyncio.run(scenario())
    assert (one.payload["recipient"], one.payload["event"]) == ("a+hard-bounce@example.com", "hard-bounced")
    assert two.payload["recipient"] == "c+hard-bounce@example.com"


def test_event_trigger_reads_a_long_answer_over_several_polls_and_drops_no_event(
    sb: Smtp2goSandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from airflow_provider_smtp2go.sandbox import activity as sandbox_activity

    real_page = sandbox_activity._page

    def short_pages(matches: list[Any], *, limit: int, **kwargs: Any) -> Any:
        # SMTP2GO may return fewer events per page than asked: here two, so 25 events take 13 pages.
        return real_page(matches, limit=min(limit, 2), **kwargs)

    monkeypatch.setattr(sandbox_activity, "_page", short_pages)

    async def scenario() -> list[Any]:
        trigger = Smtp2goActivityEventTrigger(event_types=["hard-bounced"], poll_interval=0.05)
        gen = trigger.run()
        first = asyncio.ensure_future(gen.__anext__())
        await wait_for_requests(sb, 1)
        send(sb, *[f"gone{i:02d}+hard-bounce@example.com" for i in range(25)])
        events = [await asyncio.wait_for(first, 10)]
        while len(events) < 25:
            events.append(await asyncio.wait_for(gen.__anext__(), 10))
        await gen.aclose()
        return events

    with caplog.at_level(logging.WARNING):
        events = asyncio.run(scenario())
    assert sorted(e.payload["recipient"] for e in events) == [f"gone{i:02d}+hard-bounce@example.com" for i in range(25)]
    logged = capsys.readouterr().out + "\n".join(r.getMessage() for r in caplog.records)
    assert "the next poll reads on from there" in logged
