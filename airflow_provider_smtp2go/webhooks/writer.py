"""Group commit: one writer thread per receiver process records concurrent posts together.

A commit is the expensive part of recording an event (an fsync on sqlite, a WAL flush on
Postgres).  Posts that arrive while a transaction is being written wait in a queue; the
writer then records all of them (up to ``max_batch``) in the next transaction
(:func:`~.assets.record_posts`) and answers each post only after that commit.  Under load the
cost of a commit is shared by the whole batch; a lone post is written at once (no lingering).

Under load (the previous transaction recorded more than one post) the writer first waits
``linger`` seconds (5 ms) for more posts: a transaction has a fixed cost of several ms of
CPU (Airflow's ``register_asset_change``, the asset lookup, the commit) whatever its size,
and in the api-server the posts being parsed meanwhile compete with the writer for the GIL,
so without the pause a batch held about a third of the posts in flight (21 of 64 in the
benchmark) and with it about three quarters.  An idle receiver's first post does not wait.

A caller on an event loop (the receiver) uses :meth:`EventWriter.submit_async`: the answers of
a batch go back to each loop in **one** wake-up (``call_soon_threadsafe``), not one per post.

If a batch fails, its posts are retried one by one, so one bad post cannot fail the others
(each post then gets its own answer: recorded, or the error that makes the receiver answer
503 so SMTP2GO retries it).

The thread starts on first use (so a forked api-server worker starts its own) and is a
daemon: a post still waiting when the process exits was never answered 2xx, so SMTP2GO
retries it.

Example::

    >>> writer = EventWriter(record=lambda posts: [len(events) for _, events in posts])
    >>> writer.submit("default", ["e1", "e2"]).result(timeout=5)  # doctest: +SKIP
    2
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_smtp2go.webhooks.assets import record_posts

DEFAULT_MAX_BATCH = 200
DEFAULT_LINGER = 0.005
"""Seconds a busy writer waits for more posts before it opens a transaction."""
THREAD_NAME = "smtp2go-webhook-writer"


@dataclass
class _Pending:
    account: str
    events: Sequence[Any]
    future: Future[Any] | None = field(default_factory=Future)
    waiter: asyncio.Future[Any] | None = None

    def claim(self) -> bool:
        """False when the caller gave up (timed out): the post is dropped, never half-answered."""
        if self.future is not None:
            return self.future.set_running_or_notify_cancel()
        # Read from the writer thread without the loop: a race only means recording a post
        # whose caller has just answered 503, which SMTP2GO's retry then finds recorded.
        return self.waiter is not None and not self.waiter.cancelled()


Outcome = tuple[_Pending, Any, BaseException | None]


class EventWriter:
    """Queues posts and records them in shared transactions; ``submit`` returns a ``Future``."""

    def __init__(
        self,
        record: Callable[[Sequence[tuple[str, Sequence[Any]]]], list[Any]] = record_posts,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
        linger: float = DEFAULT_LINGER,
    ) -> None:
        self._record = record
        self.max_batch = max_batch
        self.linger = linger
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.batches = 0
        """How many transactions were written (for tests and benchmarks)."""

    def submit(self, account: str, events: Sequence[Any]) -> Future[Any]:
        """Queue one post; the future holds its ``Recorded`` once committed (or the error)."""
        future: Future[Any] = Future()
        self._queue.put(_Pending(account, events, future))
        self._ensure_thread()
        return future

    def submit_async(self, account: str, events: Sequence[Any]) -> asyncio.Future[Any]:
        """:meth:`submit` for a caller on the running event loop; cancel the future to give up."""
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put(_Pending(account, events, None, waiter))
        self._ensure_thread()
        return waiter

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        busy = False
        while True:
            batch = [self._queue.get()]
            until = time.monotonic() + self.linger if busy else 0.0
            while len(batch) < self.max_batch:
                wait = until - time.monotonic()
                try:
                    batch.append(self._queue.get(timeout=wait) if wait > 0 else self._queue.get_nowait())
                except queue.Empty:
                    break
            busy = len(batch) > 1
            batch = [p for p in batch if p.claim()]
            if batch:
                _deliver(self._write(batch))

    def _write(self, batch: list[_Pending]) -> list[Outcome]:
        try:
            results = self._record([(p.account, p.events) for p in batch])
            self.batches += 1
        except Exception as exc:
            if len(batch) == 1:
                return [(batch[0], None, exc)]
            # Find the post that fails; the others are recorded.
            return [outcome for pending in batch for outcome in self._write([pending])]
        return [(pending, result, None) for pending, result in zip(batch, results, strict=True)]


def _deliver(outcomes: list[Outcome]) -> None:
    """Answer every post: thread futures at once, each event loop's waiters in one wake-up."""
    by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
    for outcome in outcomes:
        pending, result, exc = outcome
        if pending.future is not None:
            if exc is None:
                pending.future.set_result(result)
            else:
                pending.future.set_exception(exc)
        elif pending.waiter is not None:
            by_loop.setdefault(pending.waiter.get_loop(), []).append(outcome)
    for loop, waiting in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop closed: its callers are gone
            loop.call_soon_threadsafe(_settle, waiting)


def _settle(outcomes: list[Outcome]) -> None:
    for pending, result, exc in outcomes:
        waiter = pending.waiter
        if waiter is None or waiter.done():  # given up meanwhile
            continue
        if exc is None:
            waiter.set_result(result)
        else:
            waiter.set_exception(exc)
