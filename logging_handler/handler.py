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
import socket
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from logging_handler.alert import Alert, fallback_alert
from logging_handler.config import (
    DEFAULT_API_KEY_ENV,
    as_bool,
    as_float,
    as_int,
    as_level,
    as_list,
    as_optional_str,
    resolve_credentials,
)
from logging_handler.formatting import (
    DEFAULT_DIGEST_SUBJECT,
    DEFAULT_MAX_SUBJECT_LENGTH,
    DEFAULT_SUBJECT,
    MailFormatter,
    RenderedMail,
)
from logging_handler.storm import Observed, Outgoing, StormControl, fingerprint
from logging_handler.worker import DeliveryWorker

if TYPE_CHECKING:
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

    Delivery and shutdown:

    :param flush_timeout: seconds ``flush()`` and ``close()`` each wait for pending email.
    :param timeout: HTTP timeout per request, seconds.
    :param max_attempts, retry_deadline, retry_ambiguous_sends: the client's ``RetryPolicy``.
    :param retry_interval, retry_interval_max: back-off between catch-up attempts when the API
        stays down (doubling from the first to the second).

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
        level: int | str = logging.ERROR,
        subject: str = DEFAULT_SUBJECT,
        digest_subject: str = DEFAULT_DIGEST_SUBJECT,
        max_subject_length: int | str = DEFAULT_MAX_SUBJECT_LENGTH,
        html_body: bool | str = True,
        hostname: str | None = None,
        digest_window: float | str = 300.0,
        max_emails_per_hour: int | str = 20,
        cap_period: float | str = 3600.0,
        max_groups: int | str = 1000,
        flush_timeout: float | str = 5.0,
        timeout: float | str = 10.0,
        max_attempts: int | str = 3,
        retry_deadline: float | str = 30.0,
        retry_ambiguous_sends: bool | str = False,
        retry_interval: float | str = 30.0,
        retry_interval_max: float | str = 300.0,
        ignore_loggers: str | list[str] | tuple[str, ...] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        # Everything is validated before Handler.__init__ registers us with logging: a
        # half-built handler in logging's list would be flushed by logging.shutdown().
        handler_level = as_level("level", level)
        from airflow_provider_smtp2go.client import Email, RetryPolicy  # noqa: PLC0415  (keeps import cheap)

        self.recipients = as_list("recipients", recipients)
        if not self.recipients:
            raise ValueError("recipients: at least one address is required")
        credentials = resolve_credentials(
            api_key=api_key,
            api_key_env=str(api_key_env),
            airflow_conn_id=as_optional_str(airflow_conn_id),
            region=region,
            base_url=base_url,
            subaccount_id=subaccount_id,
            sender=sender,
        )
        if not credentials.sender:
            raise ValueError("sender: the From address is required (or a 'sender' extra on the Airflow connection)")
        self.sender = credentials.sender
        # Addresses are checked now, so a typo fails at configuration time, not during an outage.
        Email(sender=self.sender, to=self.recipients, subject="configuration check", text_body=".")

        self.flush_timeout = as_float("flush_timeout", flush_timeout)
        self.retry_policy: RetryPolicy = RetryPolicy(
            max_attempts=as_int("max_attempts", max_attempts, minimum=1),
            deadline=as_float("retry_deadline", retry_deadline, minimum=0.001),
            retry_ambiguous_sends=as_bool("retry_ambiguous_sends", retry_ambiguous_sends),
        )
        http_timeout = as_float("timeout", timeout, minimum=0.001)
        self._storm_settings: dict[str, Any] = {
            "digest_window": as_float("digest_window", digest_window),
            "max_emails_per_hour": as_int("max_emails_per_hour", max_emails_per_hour, minimum=1),
            "cap_period": as_float("cap_period", cap_period, minimum=0.001),
            "max_groups": as_int("max_groups", max_groups, minimum=1),
        }
        if clock is not None:
            self._storm_settings["clock"] = clock
        self._retry_interval = as_float("retry_interval", retry_interval, minimum=0.001)
        self._retry_interval_max = as_float("retry_interval_max", retry_interval_max, minimum=0.001)
        self.formatter_mail = MailFormatter(
            hostname=hostname or socket.gethostname(),
            subject=str(subject),
            digest_subject=str(digest_subject),
            max_subject_length=as_int("max_subject_length", max_subject_length),
            html_body=as_bool("html_body", html_body),
        )
        self.ignored_loggers = IGNORED_LOGGERS + tuple(as_list("ignore_loggers", ignore_loggers))
        self._ignored_cache: dict[str, bool] = {}

        from airflow_provider_smtp2go.client import Smtp2goClient  # noqa: PLC0415

        key, policy = credentials.api_key, self.retry_policy
        region_, base_url_, subaccount_ = credentials.region, credentials.base_url, credentials.subaccount_id

        # A closure, not a functools.partial: a partial's repr would show the key.
        def make_client() -> Smtp2goClient:
            return Smtp2goClient(
                key,
                region=region_,
                base_url=base_url_,
                subaccount_id=subaccount_,
                timeout=http_timeout,
                retry=policy,
                pool_maxsize=1,
            )

        self._make_client = make_client
        self._client = make_client()  # validates region/base_url now; no I/O
        self.base_url = self._client.base_url
        self._shut = False
        self._local = threading.local()
        self._pid = os.getpid()
        self._storm = StormControl(**self._storm_settings)
        self._worker = self._new_worker()
        super().__init__(handler_level)
        _LIVE_HANDLERS.add(self)

    def _new_worker(self) -> DeliveryWorker:
        return DeliveryWorker(
            self._storm,
            deliver=self._deliver,
            should_retry=self.retry_policy.should_retry,
            report=self._report_failure,
            retry_interval=self._retry_interval,
            retry_interval_max=self._retry_interval_max,
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
        # logging.shutdown() holds that lock waiting for the worker to finish.
        if self.is_ignored(record) or getattr(self._local, "busy", False):
            return False
        return super().handle(record)

    def emit(self, record: logging.LogRecord) -> None:
        """Count the record; snapshot and wake the worker only for a new alert.  Never blocks."""
        try:
            if self._shut:
                return
            key = fingerprint(record)
            observed = self._storm.observe(key, record.created)
            if observed & Observed.NEEDS_SAMPLE:
                self._storm.attach(key, self._snapshot(record))
            if observed & Observed.PROMPT:
                if self._pid != os.getpid():
                    self._after_fork_in_child()  # forked without os.fork's hooks
                    return
                self._worker.wake()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def _snapshot(self, record: logging.LogRecord) -> Alert:
        # Formatting runs user code (args' __str__); if that logs, the nested record is
        # dropped by ``handle`` instead of recursing.
        self._local.busy = True
        try:
            return Alert.from_record(record, self.formatter)
        except Exception as exc:
            self.handleError(record)
            return fallback_alert(record, exc)
        finally:
            self._local.busy = False

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
        return self.send(mail, self.render(mail))

    def _report_failure(self, exc: BaseException, mail: Outgoing, kept: bool) -> None:
        if kept and self._worker.consecutive_failures > 1:
            return  # one report per outage, not one per retry
        outcome = "kept for a catch-up digest" if kept else "given up"
        record = logging.LogRecord(
            "logging_handler",
            logging.ERROR,
            __file__,
            0,
            "Smtp2goHandler could not deliver an alert email (%d records, %s)",
            (mail.count, outcome),
            None,
        )
        self.handleError(record)

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
                    self._worker.close(self.flush_timeout)
                finally:
                    self._client.close()
                    _LIVE_HANDLERS.discard(self)
        finally:
            super().close()

    def _after_fork_in_child(self) -> None:
        # The parent delivers what it had pending; the child starts empty, with its own
        # thread and its own connections (sharing the parent's sockets would corrupt both).
        self._pid = os.getpid()
        self._local = threading.local()
        self._storm = StormControl(**self._storm_settings)
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
            "groups": self._storm.group_count,
        }

    def __repr__(self) -> str:
        level = logging.getLevelName(self.level)
        return f"<{type(self).__name__} to={','.join(self.recipients)} via {self.base_url} ({level})>"
