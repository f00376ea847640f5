"""``Smtp2goHandler``: a ``logging.Handler`` that emails alerts through SMTP2GO's HTTP API.

``emit()`` never touches the network: it computes the record's fingerprint and counts it
(:mod:`.storm`); only the first record of a new alert group is snapshotted and wakes the
background worker (:mod:`.worker`), which renders (:mod:`.formatting`) and sends through the
core client, with the client's retry policy.

Example (``fileConfig``: positional ``args`` are recipients and sender, the rest ``kwargs``)::

    [handler_alerts]
    class=logging_handler.Smtp2goHandler
    level=ERROR
    args=('ops@example.com', 'alerts@example.com')
    kwargs={'region': 'eu', 'digest_window': '300'}

Example (``dictConfig``; every value may be a plain string)::

    import logging.config

    logging.config.dictConfig({
        "version": 1,
        "handlers": {
            "alerts": {
                "class": "logging_handler.Smtp2goHandler",
                "level": "ERROR",
                "recipients": "ops@example.com, oncall@example.com",
                "sender": "alerts@example.com",
                "region": "eu",                 # the key comes from $SMTP2GO_API_KEY
                "digest_window": "300",
                "max_emails_per_hour": "20",
            },
        },
        "root": {"handlers": ["alerts"], "level": "INFO"},
    })
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from logging_handler.alert import Alert, fallback_alert
from logging_handler.credentials import DEFAULT_API_KEY_ENV, FROM_ARGUMENT, resolve_credentials
from logging_handler.formatting import MailFormatter, RenderedMail
from logging_handler.scrubbing import Scrubber
from logging_handler.settings import HandlerSettings as _S
from logging_handler.storm import Observed, Outgoing, StormControl, fingerprint
from logging_handler.worker import DeliveryFailure, DeliveryWorker, one_line

if TYPE_CHECKING:
    import re

    from airflow_provider_smtp2go.client import RetryPolicy, SendResult, Smtp2goClient

#: Loggers whose records never become email: HTTP stacks and our own client could otherwise
#: turn one failed delivery into another alert, and so on forever.
IGNORED_LOGGERS: tuple[str, ...] = (
    "urllib3",
    "requests",
    "httpx",
    "httpcore",
    "airflow_provider_smtp2go",
    "logging_handler",
)

_get_ident = threading.get_ident
_LIVE_HANDLERS: weakref.WeakSet[Smtp2goHandler] = weakref.WeakSet()


def _reinit_handlers_in_child() -> None:
    for handler in list(_LIVE_HANDLERS):
        handler._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_handlers_in_child)


class Smtp2goHandler(logging.Handler):
    """Email log records through SMTP2GO, without blocking, flooding or losing the last words.

    >>> import logging
    >>> handler = Smtp2goHandler("ops@example.com", "alerts@example.com")  # doctest: +SKIP
    >>> logging.getLogger().addHandler(handler)                            # doctest: +SKIP

    Where to send (all may be strings, as ``dictConfig``/``fileConfig`` give them):

    :param recipients: list, or comma-separated string, of addresses.
    :param sender: the From address (or the Airflow connection's ``sender`` extra).
    :param api_key: the SMTP2GO key; better left out so config files hold no secret: it is then
        read from the environment variable named by ``api_key_env`` (``SMTP2GO_API_KEY``).
    :param region: ``global``, ``us``, ``eu`` or ``au``; or ``base_url`` (https, or loopback).
    :param subaccount_id: SMTP2GO subaccount, like the hook.
    :param airflow_conn_id: read key, region, base URL, subaccount and sender from this Airflow
        connection (imports Airflow only when given); explicit arguments win.

    Storm control (see :mod:`logging_handler.storm`):

    :param digest_window: seconds during which repeats of an alert are folded into one digest.
    :param max_emails_per_hour: hard cap per ``cap_period`` (3600 s); the last is a notice.
    :param max_groups: distinct alerts held at once; beyond it the oldest are dropped (counted,
        and reported in the next email).
    :param max_distinct_messages: distinct message texts listed, with their counts, per group
        in a digest (5); the rest are counted ("and K more distinct messages").

    Delivery and shutdown:

    :param flush_timeout: seconds ``flush()`` and ``close()`` each wait for pending email.
    :param timeout: HTTP timeout per request, seconds.
    :param max_attempts, retry_deadline, retry_ambiguous_sends: the client's ``RetryPolicy``.
    :param retry_interval, retry_interval_max: back-off between catch-up attempts when the API
        stays down or refuses the key (``RetryPolicy.wait``: doubling, with jitter, from the
        first to the second).

    Secrets: the handler's own API key (and any 8-character run of it), everything Airflow's
    secrets masker knows (inside Airflow), and the ``redact`` regular expressions (a string or
    a list; ``re.escape`` literal text) are replaced by ``***`` in subjects and bodies.

    A key SMTP2GO refuses (401/403) is reported once, on one line of stderr; alerts are then
    counted as dropped, a key from the environment or an Airflow connection is read again, and
    the count reaches the next email that gets through.

    Rendering: ``subject`` and ``digest_subject`` templates (%-style over record attributes,
    plus ``hostname``, ``count``, ``groups``), ``max_subject_length``, ``html_body``,
    ``hostname``.  ``ignore_loggers`` adds logger names (and their children) never emailed.

    Override points: :meth:`render` (what the email says) and :meth:`send` (how it goes).
    """

    def __init__(
        self,
        recipients: str | list[str] | tuple[str, ...] | None = None,
        sender: str | None = None,
        *,
        api_key: str | None = None,
        region: str | None = None,
        base_url: str | None = None,
        subaccount_id: str | None = None,
        api_key_env: str = DEFAULT_API_KEY_ENV,
        airflow_conn_id: str | None = None,
        level: int | str = _S.level,
        subject: str = _S.subject,
        digest_subject: str = _S.digest_subject,
        max_subject_length: int | str = _S.max_subject_length,
        html_body: bool | str = _S.html_body,
        hostname: str | None = None,
        digest_window: float | str = _S.digest_window,
        max_emails_per_hour: int | str = _S.max_emails_per_hour,
        cap_period: float | str = _S.cap_period,
        max_groups: int | str = _S.max_groups,
        max_distinct_messages: int | str = _S.max_distinct_messages,
        flush_timeout: float | str = _S.flush_timeout,
        timeout: float | str = _S.timeout,
        max_attempts: int | str = _S.max_attempts,
        retry_deadline: float | str = _S.retry_deadline,
        retry_ambiguous_sends: bool | str = _S.retry_ambiguous_sends,
        retry_interval: float | str = _S.retry_interval,
        retry_interval_max: float | str = _S.retry_interval_max,
        ignore_loggers: str | list[str] | tuple[str, ...] | None = None,
        redact: str | re.Pattern[str] | list[str | re.Pattern[str]] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        # Everything is validated before Handler.__init__ registers us with logging: a
        # half-built handler in logging's list would be flushed by logging.shutdown().
        arguments = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.settings = settings = _S.parse(**arguments)
        from airflow_provider_smtp2go.client import RetryPolicy  # noqa: PLC0415  (keeps the import cheap)

        self.recipients = list(settings.recipients)
        self.sender = str(settings.credentials.sender)
        self.flush_timeout = settings.flush_timeout
        self.retry_policy: RetryPolicy = RetryPolicy(
            max_attempts=settings.max_attempts,
            deadline=settings.retry_deadline,
            retry_ambiguous_sends=settings.retry_ambiguous_sends,
        )
        # Between delivery attempts when the API stays down or refuses the key: one policy,
        # with the handler's own (longer) intervals.
        self.delivery_policy = RetryPolicy(
            backoff_base=settings.retry_interval, backoff_max=settings.retry_interval_max
        )
        self.formatter_mail = MailFormatter(
            hostname=settings.hostname,
            subject=settings.subject,
            digest_subject=settings.digest_subject,
            max_subject_length=settings.max_subject_length,
            html_body=settings.html_body,
        )
        self.ignored_loggers = IGNORED_LOGGERS + settings.ignore_loggers
        self._ignored_cache: dict[str, bool] = {}
        self.scrubber = Scrubber(settings.credentials.api_key, patterns=settings.redact)
        self._credentials = settings.credentials  # its repr hides the key
        self._client = self._make_client()  # validates region/base_url now; no I/O
        self.base_url = self._client.base_url
        self._shut = False
        self._formatting: int | None = None  # ident of the thread formatting a record in emit
        self._pid = os.getpid()
        self._storm = StormControl(**settings.storm_kwargs())
        self._worker = self._new_worker()
        super().__init__(settings.level)
        _LIVE_HANDLERS.add(self)

    def _make_client(self) -> Smtp2goClient:
        from airflow_provider_smtp2go.client import Smtp2goClient  # noqa: PLC0415

        creds = self._credentials
        return Smtp2goClient(
            creds.api_key,
            region=creds.region,
            base_url=creds.base_url,
            subaccount_id=creds.subaccount_id,
            timeout=self.settings.timeout,
            retry=self.retry_policy,
            pool_maxsize=1,
        )

    def _new_worker(self) -> DeliveryWorker:
        return DeliveryWorker(
            self._storm,
            deliver=self._deliver,
            policy=self.delivery_policy,
            report=self._report_failure,
            on_internal_error=self._report_bug,
            name=f"Smtp2goHandler-{id(self):x}",
        )

    # -- the logging thread -------------------------------------------------------------------

    def is_ignored(self, record: logging.LogRecord) -> bool:
        """True for records the handler must never email (see ``IGNORED_LOGGERS``)."""
        if threading.get_ident() == self._worker.ident:
            return True  # anything the worker logs, whoever the logger is
        name = record.name
        ignored = self._ignored_cache.get(name)
        if ignored is None:
            ignored = any(name == p or name.startswith(p + ".") for p in self.ignored_loggers)
            if len(self._ignored_cache) > 10_000:
                self._ignored_cache.clear()
            self._ignored_cache[name] = ignored
        return ignored

    def handle(self, record: logging.LogRecord) -> Any:
        # Checked before Handler.handle takes the handler lock: the worker may log while
        # logging.shutdown() holds that lock waiting for the worker to finish.  A record
        # logged while this thread formats one (an argument's __str__ that logs) is dropped.
        ident = _get_ident()
        if ident in (self._worker.ident, self._formatting):
            return False
        ignored = self._ignored_cache.get(record.name)
        if ignored or (ignored is None and self.is_ignored(record)):
            return False
        return super().handle(record)

    def emit(self, record: logging.LogRecord) -> None:
        """Count the record; snapshot and wake the worker only for a new alert.  Never blocks."""
        try:
            if self._shut:
                return
            key = fingerprint(record)
            text = self._message(record)
            observed = self._storm.observe(key, record.created, text)
            if observed is Observed.COUNTED:
                return  # a repeat (the common case); IntFlag's ``&`` alone costs ~0.7 µs
            if observed & Observed.NEEDS_SAMPLE:
                self._storm.attach(key, self._snapshot(record, text))
            if observed & Observed.PROMPT:
                if self._pid != os.getpid():
                    self._after_fork_in_child()  # forked without os.fork's hooks
                    return
                self._worker.wake()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def _message(self, record: logging.LogRecord) -> str | None:
        # Every record's text is counted (distinct texts of a group reach the digest).
        # Formatting runs user code (args' __str__); if that logs, ``handle`` drops the nested
        # record instead of recursing.  ``handle`` holds the handler lock, so one attribute
        # (not a thread-local: this runs on every emit) says which thread is formatting.
        if not record.args and isinstance(record.msg, str):
            return record.msg
        self._formatting = _get_ident()
        try:
            return record.getMessage()
        except Exception:
            return None  # reported once, by the snapshot of the group's first record
        finally:
            self._formatting = None

    def _snapshot(self, record: logging.LogRecord, message: str | None) -> Alert:
        self._formatting = _get_ident()
        try:
            if message is None:
                raise ValueError("the message could not be formatted")
            return Alert.from_record(record, self.formatter, message=message)
        except Exception as exc:
            self.handleError(record)
            return fallback_alert(record, exc)
        finally:
            self._formatting = None

    # -- the worker thread ---------------------------------------------------------------------

    def render(self, mail: Outgoing) -> RenderedMail:
        """Subject and bodies of one email; override to change what recipients read."""
        return self.formatter_mail.render(mail)

    def send(self, mail: Outgoing, rendered: RenderedMail) -> SendResult:
        """Deliver one rendered email; override to add headers, CCs, etc."""
        from airflow_provider_smtp2go.client import Email  # noqa: PLC0415

        email = Email(
            sender=self.sender,
            to=self.recipients,
            subject=rendered.subject,
            text_body=rendered.text,
            html_body=rendered.html,
            custom_headers={
                "X-Log-Level": logging.getLevelName(mail.levelno),
                "X-Log-Alert-Kind": mail.kind,
                "X-Log-Records": str(mail.count),
            },
        )
        return self._client.send(email)

    def _deliver(self, mail: Outgoing) -> SendResult:
        if self._worker.key_refused:
            self._reload_key()
        # Scrubbed before rendering (so HTML escaping cannot hide a secret) and after (so an
        # overridden ``render`` cannot add one back).
        mail = self.scrubber.outgoing(mail)
        return self.send(mail, self.scrubber.rendered(self.render(mail)))

    def _reload_key(self) -> None:
        """After SMTP2GO refused the key: read it again from the Airflow connection or the
        environment (where it may have been fixed meanwhile); a key passed as ``api_key`` stays."""
        if self._credentials.source == FROM_ARGUMENT:
            return
        try:
            fresh = resolve_credentials(**self.settings.key_lookup)
        except Exception:
            return  # the old key is refused anyway; the next pause tries again
        if fresh.api_key != self._credentials.api_key:
            self.scrubber.set_key(fresh.api_key)
            self._credentials = fresh
            old, self._client = self._client, self._make_client()
            old.close()

    def _report_failure(self, failure: DeliveryFailure) -> None:
        """One line on stderr per outage, per refused key and per kind of refusal (never a
        traceback: these are the API's answers, not bugs).  Silent when ``logging.raiseExceptions``
        is off, like ``handleError``."""
        if not failure.first or not logging.raiseExceptions:
            return
        mail, what = failure.mail, one_line(failure.exc)
        if failure.auth:
            line = (
                f"SMTP2GO refused the API key from {self._credentials.source} ({what}); alert emails are "
                f"counted as dropped until a delivery succeeds; next try in {failure.retry_in:.1f} s"
            )
        elif failure.kept:
            line = (
                f"could not reach SMTP2GO ({what}); {mail.count:,} records kept for a catch-up digest, "
                f"next try in {failure.retry_in:.1f} s"
            )
        elif failure.decision == "ambiguous":
            line = f"an alert email ({mail.count:,} records) may or may not have been delivered ({what}); not resent"
        else:
            line = f"SMTP2GO refused an alert email ({mail.count:,} records: {what}); counted as dropped"
        self._stderr(f"{self!r}: {line}")

    def _report_bug(self, exc: BaseException) -> None:
        # A bug in the handler itself: the stdlib's full report, traceback included.
        self.handleError(logging.makeLogRecord({"name": "logging_handler", "msg": "Smtp2goHandler worker failed"}))

    def _stderr(self, line: str) -> None:
        stream = sys.stderr
        if stream is None:
            return
        try:
            stream.write(self.scrubber.text(" ".join(line.split())) + "\n")
            stream.flush()
        except (OSError, ValueError):  # closed or broken stderr at shutdown
            pass

    # -- lifecycle ----------------------------------------------------------------------------

    def flush(self) -> None:
        """Send everything pending now (digests included), waiting at most ``flush_timeout`` s."""
        if not self._shut:
            self._worker.flush(self.flush_timeout)

    def close(self) -> None:
        """Deliver what is pending (within ``flush_timeout`` s), stop the worker; idempotent.

        ``logging.shutdown()`` calls this at interpreter exit; ``os._exit()`` skips it.
        """
        try:
            if not self._shut:
                self._shut = True
                try:
                    if not self._worker.close(self.flush_timeout) and self._worker.alive and logging.raiseExceptions:
                        # The worker is stuck in a request (a server that never answers): once
                        # the process exits its email is gone, and nobody would know.
                        self._stderr(
                            f"{self!r}: close() gave up after {self.flush_timeout:g} s with an alert email still "
                            "being sent; whether it was delivered is unknown"
                        )
                finally:
                    self._client.close()
                    _LIVE_HANDLERS.discard(self)
        finally:
            super().close()

    def _after_fork_in_child(self) -> None:
        # The parent delivers what it had pending; the child starts empty, with its own
        # thread and its own connections (sharing the parent's sockets would corrupt both).
        self._pid = os.getpid()
        self._formatting = None
        self._storm = StormControl(**self.settings.storm_kwargs())
        self._worker = self._new_worker()
        self._client = self._make_client()

    # -- introspection --------------------------------------------------------------------------

    @property
    def stats(self) -> dict[str, int]:
        """Counters for monitoring: emails sent, records pending/dropped/undeliverable."""
        return {
            "sent": self._worker.sent,
            "pending": self._storm.pending,
            "dropped": self._storm.dropped_total,
            "undeliverable": self._worker.undeliverable,
            "refused": self._storm.refused_pending,
            "groups": self._storm.group_count,
        }

    def __repr__(self) -> str:
        level = logging.getLevelName(self.level)
        return f"<{type(self).__name__} to={','.join(self.recipients)} via {self.base_url} ({level})>"
