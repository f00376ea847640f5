"""The concurrent sender: a thread pool over one pooled ``Smtp2goClient``, paced together.

- **Bounded, adaptive concurrency.** ``concurrency`` threads share one client (its connection
  pool sized to match); an ``AdaptiveConcurrency`` limit halves for *all* of them on a 429 and
  pauses them together, then grows back with successes.
- **Optional rate cap.** A ``RateCap`` token bucket keeps the run under the account's
  sending limit instead of discovering it through 429s.
- **Retries that cannot duplicate.** The sender, not the client, retries, under its own
  ``RetryPolicy``: ``RetryPolicy.classify`` decides. ``RETRY`` (429, 503, a connection that
  never left) is tried again after ``RetryPolicy.wait`` (a 429's pause is shared by every
  worker). ``AMBIGUOUS`` (the request left, no usable answer) is never retried here but handed
  to ``reconcile`` to be proven sent or unsent first. ``PERMANENT`` is final for that row, and
  an auth error (a bad key) stops the whole run: every other row would fail the same way, and
  error answers feed SMTP2GO's IP ban.
- **Write-ahead progress.** Each dispatch batch is recorded ``pending`` in the ledger before
  its first request leaves; outcomes are flushed every ``flush_interval`` seconds.

>>> from airflow_provider_smtp2go.client import RetryPolicy, Smtp2goClient
>>> client = Smtp2goClient(api_key, retry=RetryPolicy.no_retries(), pool_maxsize=16)  # doctest: +SKIP
>>> outcomes = BulkSender(client, concurrency=16).send(batch.valid, ledger)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice

from airflow_provider_smtp2go.bulk.client import BulkClient
from airflow_provider_smtp2go.bulk.concurrency import AdaptiveConcurrency
from airflow_provider_smtp2go.bulk.ledger import Ledger
from airflow_provider_smtp2go.bulk.outcome import Outcome
from airflow_provider_smtp2go.bulk.progress import ProgressReporter
from airflow_provider_smtp2go.bulk.ratecap import RateCap
from airflow_provider_smtp2go.bulk.rows import PreparedRow
from airflow_provider_smtp2go.client.errors import Smtp2goAuthError, Smtp2goError, Smtp2goRateLimitError
from airflow_provider_smtp2go.client.retry import Decision, RetryPolicy

#: The sender's default per-row budget: a few tries, with SMTP2GO's backoff after a 429.
DEFAULT_ROW_POLICY = RetryPolicy(max_attempts=6)

log = logging.getLogger("airflow_provider_smtp2go.bulk")


@dataclass(frozen=True)
class SendOutcome:
    """What one row's send came to: ``outcome`` is SENT, FAILED, RETRYABLE or AMBIGUOUS."""

    row: PreparedRow
    outcome: Outcome
    email_id: str | None = None
    reason: str | None = None
    attempts: int = 0
    schedule_id: str | None = None


class BulkSender:
    """Send many prepared rows concurrently through one client.

    :param client: an ``Smtp2goClient`` built with ``retry=RetryPolicy.no_retries()`` (this
        class does the retrying, so that a 429 pauses every worker at once) and
        ``pool_maxsize >= concurrency``.
    :param concurrency: worker threads, and the ceiling of the adaptive limit.
    :param policy: the per-row budget: ``max_attempts`` and ``deadline`` for the tries of one
        row (a row out of budget stays ``retryable``: the next task try sends it), and the
        backoff between them and after a 429.
    :param rate_cap: an optional ``RateCap`` (emails per second / hour).
    :param progress_interval: seconds between progress log lines.
    :param flush_interval: seconds between ledger writes of outcomes.
    :param dispatch_batch: rows marked pending per ledger write (default ``max(256, 8 * concurrency)``;
        larger means fewer durable writes, but more rows to look up after a crash).
    """

    def __init__(
        self,
        client: BulkClient,
        *,
        concurrency: int = 8,
        policy: RetryPolicy = DEFAULT_ROW_POLICY,
        rate_cap: RateCap | None = None,
        progress_interval: float = 10.0,
        flush_interval: float = 1.0,
        dispatch_batch: int | None = None,
        logger: logging.Logger | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if client.retry_policy.max_attempts > 1:
            raise ValueError(
                "build the bulk client with retry=RetryPolicy.no_retries(): the bulk sender retries "
                "itself so that a 429 pauses all workers together (the client would wait per thread)"
            )
        self.client = client
        self.concurrency = concurrency
        self.policy = policy
        self.rate_cap = rate_cap
        self.limit = AdaptiveConcurrency(concurrency, policy=policy)
        self.progress_interval = progress_interval
        self.flush_interval = flush_interval
        self.dispatch_batch = dispatch_batch or max(256, 8 * concurrency)
        self.log = logger or log
        self._sleep = sleep
        self._abort: BaseException | None = None
        self._abort_lock = threading.Lock()

    @property
    def abort_error(self) -> BaseException | None:
        """The error that stopped the run early (an auth error), if any."""
        return self._abort

    # One row

    def send_one(self, row: PreparedRow) -> SendOutcome:
        """Send one row, retrying only what ``RetryPolicy.classify`` says cannot have been accepted."""
        deadline = self.policy.start()
        reason = "not sent"
        for attempt in range(1, self.policy.max_attempts + 1):
            if self._abort is not None:
                return SendOutcome(row, Outcome.RETRYABLE, reason=f"not sent: run stopped ({self._abort})")
            try:
                ticket = self.limit.acquire(timeout=deadline.remaining())
            except TimeoutError:
                return SendOutcome(row, Outcome.RETRYABLE, reason=f"{reason}; out of time", attempts=attempt - 1)
            error: Smtp2goError | None = None
            try:
                if self.rate_cap is not None:
                    self.rate_cap.acquire()
                result = self.client.send(row.email)
                return SendOutcome(
                    row, Outcome.SENT, email_id=result.email_id, attempts=attempt, schedule_id=result.schedule_id
                )
            except Smtp2goError as exc:
                error = exc
            finally:
                rate_limited = isinstance(error, Smtp2goRateLimitError)
                retry_after = error.retry_after if isinstance(error, Smtp2goRateLimitError) else None
                self.limit.release(ticket, rate_limited=rate_limited, retry_after=retry_after)
            decision = RetryPolicy.classify(error)
            if isinstance(error, Smtp2goAuthError):
                with self._abort_lock:
                    self._abort = self._abort or error
            if decision is not Decision.RETRY:
                outcome = Outcome.AMBIGUOUS if decision is Decision.AMBIGUOUS else Outcome.FAILED
                return SendOutcome(row, outcome, reason=str(error), attempts=attempt)
            reason = f"{'rate limited' if rate_limited else 'not accepted'}: {error}"
            if attempt < self.policy.max_attempts and not rate_limited:  # a 429's pause is the shared limit's
                self._sleep(deadline.bound(self.policy.wait(attempt)))
            if deadline.expired():
                return SendOutcome(row, Outcome.RETRYABLE, reason=f"{reason}; out of time", attempts=attempt)
        return SendOutcome(row, Outcome.RETRYABLE, reason=reason, attempts=self.policy.max_attempts)

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
                outcome.outcome,
                index=outcome.row.index,
                email_id=outcome.email_id,
                reason=outcome.reason,
                schedule_id=outcome.schedule_id,
            )
            progress.add(
                sent=outcome.outcome is Outcome.SENT,
                failed=outcome.outcome in (Outcome.FAILED, Outcome.RETRYABLE),
                ambiguous=outcome.outcome is Outcome.AMBIGUOUS,
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
