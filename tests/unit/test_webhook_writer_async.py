"""``EventWriter.submit_async``: posts from an event loop, answered in one wake-up per batch."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from airflow_provider_smtp2go.webhooks.writer import EventWriter


def _gated(gate: threading.Event, sizes: list[int], fail: str | None = None) -> Any:
    def record(posts: Any) -> list[Any]:
        gate.wait(5)  # the first transaction is "slow": the others queue behind it
        if fail is not None and any(account == fail for account, _ in posts):
            raise RuntimeError("database is locked")
        sizes.append(len(posts))
        return [f"{account}:{len(events)}" for account, events in posts]

    return record


def test_posts_from_a_loop_are_batched_and_each_gets_its_own_answer() -> None:
    gate, sizes = threading.Event(), []
    writer = EventWriter(_gated(gate, sizes))
    wakeups = 0

    async def main() -> list[Any]:
        nonlocal wakeups
        loop = asyncio.get_running_loop()
        original = loop.call_soon_threadsafe

        def counting(*args: Any, **kwargs: Any) -> Any:
            nonlocal wakeups
            wakeups += 1
            return original(*args, **kwargs)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        waiters = [writer.submit_async(f"a{i}", [i] * (i % 3 + 1)) for i in range(30)]
        await asyncio.sleep(0.05)
        gate.set()
        return list(await asyncio.gather(*waiters))

    assert asyncio.run(main()) == [f"a{i}:{i % 3 + 1}" for i in range(30)]
    assert sum(sizes) == 30 and len(sizes) < 30
    assert wakeups == len(sizes)  # one wake-up of the loop per transaction, not one per post


def test_a_failing_post_raises_in_its_caller_only() -> None:
    gate, sizes = threading.Event(), []
    writer = EventWriter(_gated(gate, sizes, fail="bad"))

    async def main() -> list[Any]:
        waiters = [writer.submit_async(account, ["e"]) for account in ("first", "good", "bad")]
        gate.set()
        return list(await asyncio.gather(*waiters, return_exceptions=True))

    first, good, bad = asyncio.run(main())
    assert (first, good) == ("first:1", "good:1")
    assert isinstance(bad, RuntimeError)


def test_a_caller_that_gave_up_is_not_recorded() -> None:
    gate = threading.Event()
    recorded: list[str] = []

    def record(posts: Any) -> list[Any]:
        gate.wait(5)
        recorded.extend(account for account, _ in posts)
        return [None for _ in posts]

    writer = EventWriter(record)

    async def main() -> None:
        first = writer.submit_async("first", ["e"])
        await asyncio.sleep(0.05)
        abandoned = writer.submit_async("abandoned", ["e"])
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(abandoned, 0.01)
        kept = writer.submit_async("kept", ["e"])
        gate.set()
        await first
        await kept

    asyncio.run(main())
    assert recorded == ["first", "kept"]


def test_an_idle_writer_records_a_lone_post_at_once() -> None:
    writer = EventWriter(lambda posts: [len(events) for _, events in posts], linger=30.0)
    started = time.monotonic()
    assert writer.submit("default", ["e1"]).result(timeout=10) == 1
    assert time.monotonic() - started < 10  # it did not wait out the linger


def test_a_busy_writer_waits_for_more_posts_before_its_next_transaction() -> None:
    gate, sizes = threading.Event(), []
    writer = EventWriter(_gated(gate, sizes), linger=30.0, max_batch=2)
    first = writer.submit("first", ["e"])
    time.sleep(0.05)  # the writer holds "first" alone (idle: no wait) in its slow transaction
    queued = [writer.submit(f"q{i}", ["e"]) for i in range(2)]
    gate.set()
    assert [f.result(timeout=10) for f in (first, *queued)] == ["first:1", "q0:1", "q1:1"]
    late = writer.submit("late", ["e"])
    time.sleep(0.1)  # busy (the last transaction had two posts): "late" waits for company
    later = writer.submit("later", ["e"])
    assert [late.result(timeout=10), later.result(timeout=10)] == ["late:1", "later:1"]
    assert sizes == [1, 2, 2]
