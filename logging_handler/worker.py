"""The delivery worker: one daemon thread that sends what :class:`StormControl` says is due.

The logging thread never waits for it: ``emit`` only counts into the storm table (bounded by
``max_groups``) and, when a new alert group appears, sets an event.  The worker wakes on that
event or when the next digest window ends, renders and sends, and:

* on a transient failure (the core client's ``RetryPolicy.should_retry``: connection trouble,
  429, 503 — after the client's own retries) puts the email's records back into the table and
  backs off; the next success is a catch-up digest of everything kept meanwhile;
* on a permanent failure (bad key, rejected content) or an ambiguous send (it may have been
  delivered; resending could duplicate it) reports through the handler's ``handleError`` and
  moves on.

``flush(timeout)`` asks for everything pending now and waits at most ``timeout`` seconds;
``close(timeout)`` does the same, may exceed the hourly cap by one final email, then stops
the thread.  Both are safe to call from any thread, more than once.

>>> from logging_handler.storm import StormControl
>>> worker = DeliveryWorker(StormControl(), deliver=print, should_retry=lambda exc: False,
...                         report=lambda exc, mail, kept: None)
>>> worker.flush(0.1)   # nothing pending: returns at once, no thread started
True
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from logging_handler.storm import Outgoing, StormControl

# Upper bound of one idle wait, so a clock jump or a missed wake-up cannot stall the worker.
_MAX_IDLE_WAIT = 60.0


class DeliveryWorker:
    """Owns the background thread (see the module docstring).

    :param deliver: sends one email; raises on failure.
    :param should_retry: True if a failure is transient (the records are kept and retried).
    :param report: called inside the ``except`` block of a failed delivery, with
        ``kept=True`` when the records were kept for a catch-up digest.
    :param retry_interval: first back-off after a failed delivery, doubled per failure up to
        ``retry_interval_max`` (seconds).
    """

    def __init__(
        self,
        storm: StormControl,
        *,
        deliver: Callable[[Outgoing], object],
        should_retry: Callable[[BaseException], bool],
        report: Callable[[BaseException, Outgoing, bool], None],
        retry_interval: float = 30.0,
        retry_interval_max: float = 300.0,
        name: str = "Smtp2goHandler",
    ) -> None:
        self.storm = storm
        self._deliver = deliver
        self._should_retry = should_retry
        self._report = report
        self.retry_interval = retry_interval
        self.retry_interval_max = max(retry_interval, retry_interval_max)
        self.name = name
        #: the worker thread's ident, for the handler's recursion guard (None until started)
        self.ident: int | None = None
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._wake = threading.Event()
        self._cond = threading.Condition(threading.Lock())
        self._flush_requested = 0
        self._flush_done = 0
        self._final = False
        self._stopping = False
        self._failures = 0
        self._retry_at = float("-inf")
        #: emails delivered / records given up on (permanent or ambiguous failures)
        self.sent = 0
        self.undeliverable = 0

    # -- called from logging threads ----------------------------------------------------------

    def wake(self) -> None:
        """Ask the worker to look for due emails now (cheap; starts the thread on first use)."""
        if self._thread is None:
            self._start()
        if not self._wake.is_set():
            self._wake.set()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is not None or self._stopping:
                return
            thread = threading.Thread(target=self._run, name=f"{self.name}-worker", daemon=True)
            thread.start()
            self._thread = thread

    @property
    def consecutive_failures(self) -> int:
        """Failed deliveries since the last success (0 when the API is reachable)."""
        return self._failures

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def flush(self, timeout: float, *, final: bool = False) -> bool:
        """Send everything pending; wait at most ``timeout`` s.  True if the worker finished."""
        if threading.get_ident() == self.ident:
            return False  # the worker cannot wait for itself
        if self._thread is None:
            if not self.storm.pending:
                return True
            self._start()
        if self._thread is None or not self._thread.is_alive():
            return False
        deadline = time.monotonic() + timeout
        with self._cond:
            self._flush_requested += 1
            generation = self._flush_requested
            self._final = self._final or final
        self._wake.set()
        with self._cond:
            while self._flush_done < generation:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, timeout: float) -> bool:
        """Final flush, then stop the thread; both within ``timeout`` seconds in total."""
        deadline = time.monotonic() + timeout
        done = self.flush(timeout, final=True)
        with self._cond:
            self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
        return done

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        self.ident = threading.get_ident()
        while True:
            self._wake.wait(self._idle_wait())
            self._wake.clear()
            with self._cond:
                generation = self._flush_requested
                final = self._final
                stopping = self._stopping
            force = generation > self._flush_done
            try:
                self._deliver_due(force=force, final=final and force)
            except Exception as exc:  # a bug must not silently end all alerting
                self._report(exc, Outgoing("digest", ()), False)
            if force:
                with self._cond:
                    self._flush_done = generation
                    self._cond.notify_all()
            if stopping:
                return

    def _idle_wait(self) -> float | None:
        due = self.storm.next_due()
        if due is None:
            return None
        if self._failures:
            due = max(due, self._retry_at)
        return min(_MAX_IDLE_WAIT, max(0.0, due - self.storm.clock()))

    def _deliver_due(self, *, force: bool, final: bool) -> None:
        if not force and self.storm.clock() < self._retry_at:
            return  # backing off after a failure; new records fold into the catch-up digest
        mails = self.storm.collect(force=force, final=final)
        for index, mail in enumerate(mails):
            try:
                self._deliver(mail)
            except Exception as exc:
                if self._should_retry(exc):
                    for unsent in mails[index:]:
                        self.storm.restore(unsent)
                    self.storm.delivery_failed()
                    self._failures += 1
                    backoff = min(self.retry_interval_max, self.retry_interval * 2 ** (self._failures - 1))
                    self._retry_at = self.storm.clock() + backoff
                    self._report(exc, mail, True)
                    return
                self.undeliverable += mail.count
                self._report(exc, mail, False)
            else:
                self.sent += 1
                if self._failures:
                    self._failures = 0
                    self._retry_at = float("-inf")
                    self.storm.delivery_succeeded()
