"""The delivery worker: one daemon thread that sends what :class:`StormControl` says is due.

The logging thread never waits for it: ``emit`` only counts into the storm table (bounded by
``max_groups``) and, when a new alert group appears, sets an event.  The worker wakes on that
event or when the next digest window ends, renders and sends, and decides what a failure
means by the core client's ``RetryPolicy.classify`` (after the client's own retries):

* RETRY (connection trouble, 429, 503): the email's records go back into the table and the
  worker backs off by ``RetryPolicy.wait_after``; the next success is a catch-up digest of
  everything kept meanwhile;
* AMBIGUOUS (the send may have been delivered; resending could duplicate it): reported and
  not resent;
* PERMANENT (rejected content; a bad key): the records are counted as refused and the count
  is reported in the next email that gets through.  A refused key (401/403) also pauses
  delivery, backing off like a transient failure, so a wrong key costs one request per pause
  instead of one per alert; alerts meanwhile are held, and refused in turn if the key is still
  wrong.

Every failure is handed to ``report`` with ``first=True`` only for the first of its kind since
the last success, so an outage or a wrong key is reported once.

``flush(timeout)`` asks for everything pending now and waits at most ``timeout`` seconds;
``close(timeout)`` does the same, may exceed the hourly cap by one final email, then stops
the thread.  Both are safe to call from any thread, more than once.

>>> from airflow_provider_smtp2go.client import RetryPolicy
>>> from logging_handler.storm import StormControl
>>> worker = DeliveryWorker(StormControl(), deliver=print, policy=RetryPolicy(), report=print)
>>> worker.flush(0.1)   # nothing pending: returns at once, no thread started
True
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from logging_handler.storm import Outgoing, StormControl

if TYPE_CHECKING:
    from airflow_provider_smtp2go.client import Decision, RetryPolicy

# Upper bound of one idle wait, so a clock jump or a missed wake-up cannot stall the worker.
_MAX_IDLE_WAIT = 60.0


def bounded_wait(seconds: float) -> float:
    """``seconds`` as a timeout ``threading`` accepts: never negative, never an OverflowError."""
    return min(max(0.0, seconds), threading.TIMEOUT_MAX)


@dataclass(frozen=True)
class DeliveryFailure:
    """One failed delivery, as the worker saw it."""

    exc: BaseException
    mail: Outgoing
    decision: Decision
    #: the records were kept for a catch-up digest (a transient failure)
    kept: bool
    #: SMTP2GO refused the key (401/403): delivery pauses
    auth: bool
    #: the first failure of its kind since the last success: the one worth reporting
    first: bool
    #: seconds until the next attempt (0 when nothing waits)
    retry_in: float = 0.0


class DeliveryWorker:
    """Owns the background thread (see the module docstring).

    :param deliver: sends one email; raises on failure.
    :param policy: classifies failures and says how long to back off between delivery
        attempts (``wait_after``; its ``backoff_base``/``backoff_max`` are the handler's
        ``retry_interval``/``retry_interval_max``).
    :param report: called with a :class:`DeliveryFailure` for each failed delivery, inside
        the ``except`` block.
    :param on_internal_error: called inside the ``except`` block when the worker itself hit a bug.
    """

    def __init__(
        self,
        storm: StormControl,
        *,
        deliver: Callable[[Outgoing], object],
        policy: RetryPolicy,
        report: Callable[[DeliveryFailure], None],
        on_internal_error: Callable[[BaseException], None] | None = None,
        name: str = "Smtp2goHandler",
    ) -> None:
        from airflow_provider_smtp2go.client import Decision, Smtp2goAuthError  # noqa: PLC0415

        self._decision = Decision
        self._auth_error = Smtp2goAuthError
        self.storm = storm
        self._deliver = deliver
        self.policy = policy
        self._report = report
        self._on_internal_error = on_internal_error
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
        self._failures = 0  # consecutive transient failures
        self._auth_failures = 0  # consecutive refusals of the key
        self._reported: set[str] = set()  # kinds of failure reported since the last success
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
        return self._failures + self._auth_failures

    @property
    def key_refused(self) -> bool:
        """SMTP2GO refused the key on the last attempt (delivery is paused, alerts are held)."""
        return self._auth_failures > 0

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
        deadline = time.monotonic() + bounded_wait(timeout)
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
                self._cond.wait(bounded_wait(remaining))
        return True

    def close(self, timeout: float) -> bool:
        """Final flush, then stop the thread; both within ``timeout`` seconds in total."""
        deadline = time.monotonic() + bounded_wait(timeout)
        done = self.flush(timeout, final=True)
        with self._cond:
            self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(bounded_wait(deadline - time.monotonic()))
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
                if self._on_internal_error is not None:
                    self._on_internal_error(exc)
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
        if self.consecutive_failures:
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
                if self._failed(exc, mail, mails[index + 1 :]):
                    return
            else:
                self._succeeded()

    def _failed(self, exc: BaseException, mail: Outgoing, rest: list[Outgoing]) -> bool:
        """Book a failed delivery; True if the remaining ``rest`` must not be tried now."""
        decision = self.policy.classify(exc)
        if decision is self._decision.RETRY:
            for unsent in (mail, *rest):
                self.storm.restore(unsent)
            self.storm.delivery_failed()
            self._failures += 1
            wait = self.policy.wait_after(exc, self._failures)
            self._retry_at = self.storm.clock() + wait
            self._tell(DeliveryFailure(exc, mail, decision, True, False, self._first("outage"), wait))
            return True
        self.undeliverable += mail.count
        if decision is not self._decision.PERMANENT:  # ambiguous: it may have arrived; say so, don't count it
            self._tell(DeliveryFailure(exc, mail, decision, False, False, True))
            return False
        reason = one_line(exc)
        self.storm.refuse(mail, reason)
        if not isinstance(exc, self._auth_error):
            self._tell(DeliveryFailure(exc, mail, decision, False, False, self._first(reason)))
            return False
        # The same key will be refused again: count the rest instead of sending them.
        for unsent in rest:
            self.undeliverable += unsent.count
            self.storm.refuse(unsent, reason)
        self._auth_failures += 1
        wait = self.policy.wait(self._auth_failures)
        self._retry_at = self.storm.clock() + wait
        self._tell(DeliveryFailure(exc, mail, decision, False, True, self._first("auth"), wait))
        return True

    def _first(self, kind: str) -> bool:
        if kind in self._reported:
            return False
        self._reported.add(kind)
        return True

    def _tell(self, failure: DeliveryFailure) -> None:
        with contextlib.suppress(Exception):  # a broken report must not stop delivery
            self._report(failure)

    def _succeeded(self) -> None:
        self.sent += 1
        self._reported.clear()
        if self._failures or self._auth_failures:
            self._failures = self._auth_failures = 0
            self._retry_at = float("-inf")
            self.storm.delivery_succeeded()


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line (exception texts from the client never carry the key)."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
