"""Group commit: one writer thread per receiver process records concurrent posts together.

A commit is the expensive part of recording an event (an fsync on sqlite, a WAL flush on
Postgres).  Posts that arrive while a transaction is being written wait in a queue; the
writer then records all of them (up to ``max_batch``) in the next transaction
(:func:`~.assets.record_posts`) and answers each post only after that commit.  Under load the
cost of a commit is shared by the whole batch; a lone post is written at once (no lingering).

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

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_smtp2go.webhooks.assets import record_posts

DEFAULT_MAX_BATCH = 200
THREAD_NAME = "smtp2go-webhook-writer"


@dataclass
class _Pending:
    account: str
    events: Sequence[Any]
    future: Future[Any] = field(default_factory=Future)


class EventWriter:
    """Queues posts and records them in shared transactions; ``submit`` returns a ``Future``."""

    def __init__(
        self,
        record: Callable[[Sequence[tuple[str, Sequence[Any]]]], list[Any]] = record_posts,
        *,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        self._record = record
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.batches = 0
        """How many transactions were written (for tests and benchmarks)."""

    def submit(self, account: str, events: Sequence[Any]) -> Future[Any]:
        """Queue one post; the future holds its ``Recorded`` once committed (or the error)."""
        pending = _Pending(account, events)
        self._queue.put(pending)
        self._ensure_thread()
        return pending.future

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            # A post whose caller gave up (timed out) is dropped; the others can no longer be cancelled.
            batch = [p for p in batch if p.future.set_running_or_notify_cancel()]
            if batch:
                self._write(batch)

    def _write(self, batch: list[_Pending]) -> None:
        try:
            results = self._record([(p.account, p.events) for p in batch])
            self.batches += 1
        except Exception as exc:
            if len(batch) == 1:
                batch[0].future.set_exception(exc)
                return
            for pending in batch:  # find the post that fails; the others are recorded
                self._write([pending])
            return
        for pending, result in zip(batch, results, strict=True):
            pending.future.set_result(result)
