"""The concurrent sender: a thread pool over one pooled ``Smtp2goClient``, paced together.

- **Bounded, adaptive concurrency.** ``concurrency`` threads share one client (its connection
  pool sized to match); an ``AdaptiveConcurrency`` limit halves for *all* of them on a 429 and
  pauses them together, then grows back with successes.
- **Optional rate cap.** A ``RateCap`` token bucket keeps the run under the account's
  sending limit instead of discovering it through 429s.
- **Retries that cannot duplicate.** The sender, not the client, retries: 429 and 503 (nothing
  was accepted) and connection errors where the request never left. A send that may have been
  accepted (timeout or 5xx after the request left, a dropped connection) is *ambiguous*: it is
  never retried here but handed to ``reconcile`` to be proven sent or unsent first. Permanent
  errors (4xx, 200-with-failure) are final for that row; an auth error stops the whole run.
- **Write-ahead progress.** Each dispatch batch is recorded ``pending`` in the ledger before
  its first request leaves; outcomes are flushed every ``flush_interval`` seconds.

>>> from airflow_provider_smtp2go.client import RetryPolicy, Smtp2goClient
>>> client = Smtp2goClient(api_key, retry=RetryPolicy.no_retries(), pool_maxsize=16)  # doctest: +SKIP
>>> outcomes = BulkSender(client, concurrency=16).send(batch.valid, ledger)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Any

from airflow_provider_smtp2go.bulk.concurrency import AdaptiveConcurrency
from airflow_provider_smtp2go.bulk.ledger import Ledger, RowState
from airflow_provider_smtp2go.bulk.progress import ProgressReporter
from airflow_provider_smtp2go.bulk.ratecap import RateCap
from airflow_provider_smtp2go.bulk.rows import PreparedRow
from airflow_provider_smtp2go.client.errors import (
    Smtp2goAmbiguousSendError,
    Smtp2goAuthError,
    Smtp2goError,
    Smtp2goRateLimitError,
    Smtp2goTransportError,
    is_permanent,
)

log = logging.getLogger("airflow_provider_smtp2go.bulk")


@dataclass(frozen=True)
class SendOutcome:
    """What one row's send came to: ``state`` is SENT, FAILED, RETRYABLE or AMBIGUOUS."""

    row: PreparedRow
    state: RowState
    email_id: str | None = None
    reason: str | None = None
    attempts: int = 0


class BulkSender:
    """Send many prepared rows concurrently through one client.

    :param client: an ``Smtp2goClient`` built with ``retry=RetryPolicy.no_retries()`` (this
        class does the retrying, so that a 429 pauses every worker at once) and
        ``pool_maxsize >= concurrency``.
    :param concurrency: worker threads, and the ceiling of the adaptive limit.
    :param rate_cap: an optional ``RateCap`` (emails per second / hour).
    :param max_attempts: tries per row for 429/503/connect failures before giving up on it
        for this run (it stays ``retryable``: the next task try sends it).
    :param rate_limit_backoff: pause after a 429 without ``Retry-After`` (seconds).
    :param progress_interval: seconds between progress log lines.
    :param flush_interval: seconds between ledger writes of outcomes.
    :param dispatch_batch: rows marked pending per ledger write (default ``max(256, 8 * concurrency)``;
        larger means fewer durable writes, but more rows to look up after a crash).
    """

    def __init__(
        self,
        client: Any,
        *,
        concurrency: int = 8,
        rate_cap: RateCap | None = None,
        max_attempts: int = 6,
        backoff_base: float = 1.0,
        backoff_max: float = 30.0,
        rate_limit_backoff: float = 60.0,
        rate_limit_backoff_max: float = 300.0,
        progress_interval: float = 10.0,
        flush_interval: float = 1.0,
        dispatch_batch: int | None = None,
        logger: logging.Logger | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        policy = getattr(client, "retry_policy", None)
        if policy is not None and policy.max_attempts > 1:
            raise ValueError(
                "build the bulk client with retry=RetryPolicy.no_retries(): the bulk sender retries "
                "itself so that a 429 pauses all workers together (the client would wait per thread)"
            )
        self.client = client
        self.concurrency = concurrency
        self.rate_cap = rate_cap
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.limit = AdaptiveConcurrency(
            concurrency, rate_limit_backoff=rate_limit_backoff, rate_limit_backoff_max=rate_limit_backoff_max
        )
        self.progress_interval = progress_interval
        self.flush_interval = flush_interval
        self.dispatch_batch = dispatch_batch or max(256, 8 * concurrency)
        self.log = logger or log
        self._sleep = sleep
        self._rng = random.Random()
        self._abort: BaseException | None = None
        self._abort_lock = threading.Lock()

    @property
    def abort_error(self) -> BaseException | None:
        """The error that stopped the run early (an auth error), if any."""
        return self._abort

    # One row

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return float(ceiling * self._rng.uniform(0.5, 1.0))

    def send_one(self, row: PreparedRow) -> SendOutcome:
        """Send one row, retrying only what cannot have been accepted."""
        reason = "not sent"
        for attempt in range(1, self.max_attempts + 1):
            if self._abort is not None:
                return SendOutcome(row, RowState.RETRYABLE, reason=f"not sent: run stopped ({self._abort})")
            ticket = self.limit.acquire()
            rate_limited, retry_after = False, None
            try:
                if self.rate_cap is not None:
                    self.rate_cap.acquire()
                result = self.client.send(row.email)
                return SendOutcome(row, RowState.SENT, email_id=result.email_id, attempts=attempt)
            except Smtp2goRateLimitError as exc:
                rate_limited, retry_after, reason = True, exc.retry_after, f"rate limited: {exc}"
            except Smtp2goAmbiguousSendError as exc:
                return SendOutcome(row, RowState.AMBIGUOUS, reason=str(exc), attempts=attempt)
            except Smtp2goTransportError as exc:
                if exc.request_sent:  # cannot happen for sends today; be safe if it ever does
                    return SendOutcome(row, RowState.AMBIGUOUS, reason=str(exc), attempts=attempt)
                reason = f"connection failed before sending: {exc}"
            except Smtp2goAuthError as exc:
                with self._abort_lock:
                    self._abort = self._abort or exc
                return SendOutcome(row, RowState.FAILED, reason=str(exc), attempts=attempt)
            except Smtp2goError as exc:
                if is_permanent(exc):
                    return SendOutcome(row, RowState.FAILED, reason=str(exc), attempts=attempt)
                reason = str(exc)  # 503 and other "nothing accepted" server errors
            finally:
                self.limit.release(ticket, rate_limited=rate_limited, retry_after=retry_after)
            if not rate_limited and attempt < self.max_attempts:
                self._sleep(self._backoff(attempt))  # a 429's pause is applied by the shared limit
        return SendOutcome(row, RowState.RETRYABLE, reason=reason, attempts=self.max_attempts)

    # Many rows

    def send(
        self, rows: Sequence[PreparedRow], ledger: Ledger, *, progress: ProgressReporter | None = None
    ) -> list[SendOutcome]:
        """Send ``rows``; record intent and outcomes in ``ledger``; return one outcome per row."""
        progress = progress or ProgressReporter(
            len(rows),
            interval=self.progress_interval,
            logger=self.log,
            extra=lambda: f"concurrency {self.limit.current}/{self.concurrency}",
        )
        outcomes: list[SendOutcome] = []
        pending: set[Future[SendOutcome]] = set()
        # Finished futures arrive on a queue: waiting on the whole pending set each time
        # (concurrent.futures.wait) costs O(pending) per wake-up and showed up in profiles.
        completed: queue.SimpleQueue[Future[SendOutcome]] = queue.SimpleQueue()
        source = iter(rows)
        exhausted = False
        last_flush = time.monotonic()
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="smtp2go-bulk")

        def settle(outcome: SendOutcome) -> None:
            outcomes.append(outcome)
            ledger.record(
                outcome.row.key,
                outcome.state,
                index=outcome.row.index,
                email_id=outcome.email_id,
                reason=outcome.reason,
            )
            progress.add(
                sent=outcome.state is RowState.SENT,
                failed=outcome.state in (RowState.FAILED, RowState.RETRYABLE),
                ambiguous=outcome.state is RowState.AMBIGUOUS,
            )

        try:
            while True:
                # Keep one batch in reserve so workers never starve while the ledger is written.
                if not exhausted and len(pending) < self.dispatch_batch:
                    chunk = list(islice(source, self.dispatch_batch))
                    if chunk:
                        ledger.mark_pending({row.key: row.index for row in chunk})
                        last_flush = time.monotonic()
                        for row in chunk:
                            future = pool.submit(self.send_one, row)
                            future.add_done_callback(completed.put)
                            pending.add(future)
                    else:
                        exhausted = True
                if exhausted and not pending:
                    break
                done = _drain(completed, timeout=0.2)
                pending.difference_update(done)
                for future in done:
                    settle(future.result())
                if time.monotonic() - last_flush >= self.flush_interval:
                    ledger.flush()
                    last_flush = time.monotonic()
                progress.tick()
        except BaseException as exc:
            # Stop handing out work; rows already in flight finish and are recorded below, so
            # a retry need not reconcile rows whose outcome this run already knew.
            with self._abort_lock:
                self._abort = self._abort or exc
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True)
            for future in _drain(completed, timeout=0):
                if not future.cancelled() and future.exception() is None:
                    settle(future.result())
            raise
        finally:
            pool.shutdown(wait=True)
            ledger.flush()
        progress.tick(force=True)
        return outcomes


def _drain(completed: queue.SimpleQueue[Future[SendOutcome]], timeout: float) -> list[Future[SendOutcome]]:
    """Wait up to ``timeout`` for one finished future, then take every other one already there."""
    try:
        done = [completed.get(timeout=timeout)]
    except queue.Empty:
        return []
    while True:
        try:
            done.append(completed.get_nowait())
        except queue.Empty:
            return done
