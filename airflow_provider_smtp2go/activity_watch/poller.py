"""One activity poll per account per interval, shared by every task waiting in this process.

SMTP2GO allows 60 ``/activity/search`` requests per minute per account. A triggerer holding
200 deferred sensors that each polled on their own would need 200 requests per interval; here
they subscribe to one :class:`SharedActivityPoller` per (API key hash, base URL, subaccount)
and event loop, which runs **one** query per chunk of ``chunk_size`` email ids per interval
(see :mod:`.queries`) and fans the events out to each subscriber's :class:`ActivityWatch`.

Budget. ``requests_per_minute`` is *this process's* share of the account's 60/min. The poller
spaces its cycles so that ``requests made in a cycle x 60 / requests_per_minute`` seconds pass
before the next one (never less than the shortest ``poll_interval`` of its subscribers), and
the client's own limiter enforces the same share underneath. With several triggerers (HA) or
workers polling the same account, give each process ``60 / number_of_processes`` (for example
``[smtp2go] activity_requests_per_minute = 20`` on each of three triggerers), or less if
other tools use the same API key.

Back-off. The poller's client is built with ``RetryPolicy.no_retries()``: retrying inside a
poll would spend budget that belongs to the next interval, so the poll loop is the only retry
loop. A failed poll is reported to every subscriber it concerned (they count consecutive
failures and give up after their limit), and the next cycle waits what the client's policy
says for that many consecutive failures (``RetryPolicy.wait_after``), never less than the
interval. A 429 stops the whole poller: every subscriber hears about it at once and nobody
polls until ``Retry-After`` (clamped) has passed, or without one, SMTP2GO's IP time-out,
doubling on repeated 429s up to ``limits.RATE_LIMIT_BACKOFF_MAX``.

A plain asyncio program waits the same way, with a client built with
``retry=RetryPolicy.no_retries()``:

>>> async def wait_opened(client, email_id):  # doctest: +SKIP
...     condition = WaitCondition.create(email_ids=[email_id], event_types=["opened"])
...     with await shared_pollers.watch_client(client, condition, poll_interval=60) as watch:
...         while not (result := await watch.next()).error and not evaluate(condition, result.events).done:
...             pass
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import TracebackType
from typing import TYPE_CHECKING

from airflow_provider_smtp2go.activity_watch.conditions import DEFAULT_HISTORY_DAYS, WaitCondition
from airflow_provider_smtp2go.activity_watch.queries import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_PAGES,
    afetch_events,
    plan_queries,
)
from airflow_provider_smtp2go.client import limits
from airflow_provider_smtp2go.client.activity import MAX_ACTIVITY_LIMIT, ActivityEvent
from airflow_provider_smtp2go.client.errors import Smtp2goError, Smtp2goRateLimitError
from airflow_provider_smtp2go.client.ratelimit import key_fingerprint

if TYPE_CHECKING:
    from airflow_provider_smtp2go.client.aio import AsyncSmtp2goClient

log = logging.getLogger(__name__)

#: The whole account's budget; a process sharing the account with others should ask for less.
DEFAULT_REQUESTS_PER_MINUTE = float(limits.ACTIVITY_REQUESTS_PER_MINUTE)
#: One poll per window of the rate limit: a single waiter then spends one request of its 60.
DEFAULT_POLL_INTERVAL = limits.ACTIVITY_PERIOD_SECONDS


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class PollResult:
    """What one poll brought a subscriber: its events, or the error that stopped the poll."""

    poll: int
    events: tuple[ActivityEvent, ...] = ()
    error: Smtp2goError | None = None
    rate_limited: bool = False
    retry_in: float = 0.0
    #: A query of this poll had more pages than it may read: the oldest events were not seen.
    partial: bool = False


class ActivityWatch:
    """A subscriber's end of the shared poller. Use as a context manager; ``await next()`` per poll."""

    def __init__(
        self,
        poller: SharedActivityPoller,
        condition: WaitCondition,
        poll_interval: float,
        requests_per_minute: float,
    ) -> None:
        self.poller = poller
        self.condition = condition
        self.poll_interval = poll_interval
        self.requests_per_minute = requests_per_minute
        self._queue: asyncio.Queue[PollResult] = asyncio.Queue()
        self.closed = False

    async def next(self) -> PollResult:
        """Wait for the next poll that concerned this watch."""
        return await self._queue.get()

    def _push(self, result: PollResult) -> None:
        if not self.closed:
            self._queue.put_nowait(result)

    def close(self) -> None:
        """Leave the poller; the last one to leave stops it."""
        if not self.closed:
            self.closed = True
            self.poller._leave(self)

    def __enter__(self) -> ActivityWatch:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@dataclass
class PollerStats:
    """Counters for benchmarks and tests."""

    cycles: int = 0
    requests: int = 0
    requests_per_cycle: list[int] = field(default_factory=list)
    queries_per_cycle: list[int] = field(default_factory=list)


class SharedActivityPoller:
    """The poll loop of one account in one event loop; normally obtained through :class:`PollerRegistry`.

    It owns ``client`` (closes it when the last watch leaves). The client must be built with
    ``RetryPolicy.no_retries()`` (retrying inside a poll would spend budget that belongs to the
    next interval); the poller never changes a client's policy, it reads it for its own waits.
    """

    def __init__(
        self,
        client: AsyncSmtp2goClient,
        *,
        requests_per_minute: float = DEFAULT_REQUESTS_PER_MINUTE,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        history_days: float = DEFAULT_HISTORY_DAYS,
        page_size: int = MAX_ACTIVITY_LIMIT,
        max_pages: int = DEFAULT_MAX_PAGES,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        now: Callable[[], datetime] = _utcnow,
        on_stop: Callable[[SharedActivityPoller], None] | None = None,
    ) -> None:
        if requests_per_minute <= 0:
            raise ValueError("requests_per_minute must be > 0")
        if client.retry_policy.max_attempts != 1:
            raise ValueError(
                "the shared activity poller retries by polling again: build its client with "
                f"retry=RetryPolicy.no_retries(), not max_attempts={client.retry_policy.max_attempts}"
            )
        self.client = client
        self.requests_per_minute = float(requests_per_minute)
        self.chunk_size = chunk_size
        self.history_days = history_days
        self.page_size = page_size
        self.max_pages = max_pages
        self.stats = PollerStats()
        self._sleep = sleep
        self._now = now
        self._on_stop = on_stop
        self._watches: list[ActivityWatch] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        #: Consecutive cycles that learnt nothing (every query failed, or a 429 stopped the cycle).
        self._failures = 0

    @property
    def watch_count(self) -> int:
        return len(self._watches)

    def watch(
        self,
        condition: WaitCondition,
        *,
        poll_interval: float,
        requests_per_minute: float | None = None,
    ) -> ActivityWatch:
        """Subscribe ``condition``; its first result comes at the next cycle (never immediately)."""
        if poll_interval <= 0:
            raise ValueError("poll_interval must be > 0")
        share = float(requests_per_minute or self.requests_per_minute)
        # The smallest share asked for wins: a process never spends more than any waiter allows.
        self.requests_per_minute = min(self.requests_per_minute, share)
        watch = ActivityWatch(self, condition, poll_interval, share)
        self._watches.append(watch)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="smtp2go-activity-poller")
        return watch

    def _leave(self, watch: ActivityWatch) -> None:
        with contextlib.suppress(ValueError):
            self._watches.remove(watch)
        if not self._watches:
            # Nobody is waiting: stop now rather than after the sleep (a poll in flight finishes).
            self._wake.set()

    def min_interval(self, requests: int) -> float:
        """Seconds a cycle of ``requests`` requests must take to stay within the budget."""
        return requests * limits.ACTIVITY_PERIOD_SECONDS / self.requests_per_minute

    async def _run(self) -> None:
        delay = min((w.poll_interval for w in self._watches), default=0.0)
        try:
            while await self._pause(delay):
                delay = await self._cycle(list(self._watches))
        finally:
            self._task = None
            if self._on_stop is not None:
                self._on_stop(self)
            await self._close_client()

    async def _pause(self, delay: float) -> bool:
        """Sleep ``delay`` (always, even before the first poll); False when nobody is left."""
        while True:
            if not self._watches:  # the last waiter left during the poll: do not sleep on
                return False
            self._wake.clear()
            sleeper = asyncio.ensure_future(self._sleep(delay))
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pending in (sleeper, waker):
                    pending.cancel()
            if not self._watches:
                return False
            if sleeper.done() and not sleeper.cancelled():
                return True
            # Woken because the last watch left, but a new one joined meanwhile: start the
            # sleep again rather than poll early.

    async def _close_client(self) -> None:
        try:
            await self.client.aclose()
        except Exception:  # closing must not mask why the loop ended
            log.debug("closing the SMTP2GO client of the activity poller failed", exc_info=True)

    async def _cycle(self, watches: list[ActivityWatch]) -> float:
        """Run one poll for ``watches``; return the delay before the next one."""
        self.stats.cycles += 1
        poll_no = self.stats.cycles
        plan = plan_queries(
            [w.condition for w in watches], now=self._now(), history_days=self.history_days, chunk_size=self.chunk_size
        )
        found: dict[int, list[ActivityEvent]] = {i: [] for i in range(len(watches))}
        partial: set[int] = set()
        errors: dict[int, Smtp2goError] = {}
        requests = 0
        failed_queries = 0
        for query, served in plan:
            try:
                scan = await afetch_events(self.client, query, page_size=self.page_size, max_pages=self.max_pages)
            except Smtp2goRateLimitError as exc:
                requests += 1
                self._record(requests, len(plan))
                return self._back_off_everyone(watches, exc, poll_no)
            except Smtp2goError as exc:
                requests += 1
                failed_queries += 1
                log.warning("SMTP2GO activity poll failed for %d waiting task(s): %s", len(served), exc)
                for i in served:
                    errors[i] = exc
                continue
            requests += scan.pages
            if scan.truncated:
                partial.update(served)
            for i in served:
                cond = watches[i].condition
                found[i].extend(e for e in scan.events if cond.covers(e))
        self._record(requests, len(plan))
        for i, watch in enumerate(watches):
            if i in errors:
                watch._push(PollResult(poll_no, error=errors[i]))
            else:
                watch._push(PollResult(poll_no, events=tuple(found[i]), partial=i in partial))
        delay = max(min(w.poll_interval for w in watches), self.min_interval(requests))
        if plan and failed_queries == len(plan):
            self._failures += 1
            return max(delay, self.client.retry_policy.wait_after(next(iter(errors.values())), self._failures))
        self._failures = 0
        return delay

    def _record(self, requests: int, queries: int) -> None:
        self.stats.requests += requests
        self.stats.requests_per_cycle.append(requests)
        self.stats.queries_per_cycle.append(queries)

    def _back_off_everyone(self, watches: list[ActivityWatch], exc: Smtp2goRateLimitError, poll_no: int) -> float:
        self._failures += 1
        # Never sooner than the next regular poll, even if the server said "Retry-After: 0".
        interval = min(w.poll_interval for w in watches)
        delay = max(interval, self.client.retry_policy.wait_after(exc, self._failures))
        log.warning(
            "SMTP2GO answered 429 to the shared activity poll: all %d waiting task(s) pause for %.1f s",
            len(watches),
            delay,
        )
        for watch in watches:
            watch._push(PollResult(poll_no, error=exc, rate_limited=True, retry_in=delay))
        return delay


AccountKey = tuple[str, str, str]


def account_key(api_key: str, base_url: str, subaccount_id: str | None = None) -> AccountKey:
    """(hash of the API key, base URL, subaccount): one poller per account and host; the key is not kept."""
    return key_fingerprint(api_key), base_url, subaccount_id or ""


def client_account_key(client: AsyncSmtp2goClient) -> AccountKey:
    return client.account_fingerprint, client.base_url, client.subaccount_id or ""


class PollerRegistry:
    """The pollers of this process: one per account and host, per event loop.

    :meth:`watch` builds a client (``client_factory``) only when it has to start a poller for
    the account: creating an HTTP client costs tens of milliseconds (TLS context), which 200
    triggers starting together would otherwise pay 200 times.
    """

    def __init__(self, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._pollers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[AccountKey, SharedActivityPoller]]
        self._pollers = weakref.WeakKeyDictionary()
        self._sleep = sleep

    def poller_for(self, account: AccountKey) -> SharedActivityPoller | None:
        return self._pollers.get(asyncio.get_running_loop(), {}).get(account)

    def watch(
        self,
        condition: WaitCondition,
        *,
        account: AccountKey,
        client_factory: Callable[[], AsyncSmtp2goClient],
        poll_interval: float,
        requests_per_minute: float = DEFAULT_REQUESTS_PER_MINUTE,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        history_days: float = DEFAULT_HISTORY_DAYS,
    ) -> ActivityWatch:
        """Subscribe ``condition`` to the shared poller of ``account`` (starting it if needed)."""
        pollers = self._pollers.setdefault(asyncio.get_running_loop(), {})
        poller = pollers.get(account)
        if poller is None:

            def forget(stopped: SharedActivityPoller) -> None:
                if pollers.get(account) is stopped:
                    del pollers[account]

            poller = SharedActivityPoller(
                client_factory(),
                requests_per_minute=requests_per_minute,
                chunk_size=chunk_size,
                history_days=history_days,
                sleep=self._sleep,
                on_stop=forget,
            )
            pollers[account] = poller
        return poller.watch(condition, poll_interval=poll_interval, requests_per_minute=requests_per_minute)

    async def watch_client(
        self,
        client: AsyncSmtp2goClient,
        condition: WaitCondition,
        *,
        poll_interval: float,
        requests_per_minute: float = DEFAULT_REQUESTS_PER_MINUTE,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        history_days: float = DEFAULT_HISTORY_DAYS,
    ) -> ActivityWatch:
        """Like :meth:`watch` with a ready client, which the registry now owns (closed if not needed)."""
        used = False

        def adopt() -> AsyncSmtp2goClient:
            nonlocal used
            used = True
            return client

        watch = self.watch(
            condition,
            account=client_account_key(client),
            client_factory=adopt,
            poll_interval=poll_interval,
            requests_per_minute=requests_per_minute,
            chunk_size=chunk_size,
            history_days=history_days,
        )
        if not used:
            await client.aclose()
        return watch


shared_pollers = PollerRegistry()
"""The process-wide registry the triggers use."""
