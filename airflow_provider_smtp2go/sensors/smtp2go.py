"""``Smtp2goActivitySensor``: wait until SMTP2GO reports what happened to your email.

Typical use, after ``Smtp2goSendEmailOperator`` (its XCom is ``{"email_id": ..., ...}``)::

    opened = Smtp2goActivitySensor(
        task_id="wait_opened",
        email_ids=send.output,                 # or "{{ ti.xcom_pull('send')['email_id'] }}"
        event_types=["opened"],                # satisfied by any of these per email
        match="all",                           # every id ("any": the first one is enough)
        # failure_event_types default: hard-bounced, rejected, spam -> fail fast
        deferrable=True,                       # wait in the triggerer from the start
        source="poll",                         # or "webhook" / "auto" (Airflow 3.3+)
    )

Poke and reschedule modes poll from the worker; deferrable mode hands the wait to
:class:`~airflow_provider_smtp2go.triggers.smtp2go.Smtp2goActivityTrigger` at once, where every
waiting task of the same account shares one poll per interval: N sensors starting together cost
one search per chunk of ids per interval, not N first pokes (``poke_before_defer=True`` restores
the worker's first poke, which answers an already-settled wait without a triggerer round trip).
``timeout`` and ``soft_fail`` keep their meaning in every mode (a failure event with
``soft_fail=True`` skips the task).

``source`` (see :mod:`airflow_provider_smtp2go.activity_watch.sources`): ``"webhook"`` waits
for the events the webhook receiver recorded (no ``/activity/search`` at all), read from the
asset state store (:mod:`airflow_provider_smtp2go.webhooks.inbox`; Airflow 3.3+, email ids
only); ``"auto"`` adds polling at ``max(poke_interval, 300 s)`` to fill gaps, and on older
Airflow (or for a search) is plain polling, said once in the task log. The sensor declares the
watched ``smtp2go://<account>/<event type>`` assets as inlets, which keeps them active so the
state store answers for them. In poke/reschedule mode each poke reads the state store the same
way (``"auto"`` then also polls, at the poke interval).

The all/any switch is called ``match`` because ``mode`` already means poke/reschedule.

A poke never blocks its worker on SMTP2GO: it makes one attempt (the sensor's own loop is the
retry loop) within a deadline of about one poke interval, and a rate limit (a 429, or this
process's limiter still waiting one out) answers "not yet" with one log line.

After a deferral the trigger's event carries ids, event types and dates in the clear (Airflow
logs it at INFO) and the full events sealed with Airflow's Fernet key
(:mod:`airflow_provider_smtp2go.triggers.sealed`), so the XCom is the same in every mode and
resuming costs no SMTP2GO call. Only without a Fernet key (or one the worker does not share)
does ``execute_complete`` read the full events back with one activity search.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_smtp2go._compat import (
    AirflowException,
    AirflowFailException,
    AirflowSkipException,
    BaseSensorOperator,
    Context,
    PokeReturnValue,
    conf,
)
from airflow_provider_smtp2go.activity_watch.conditions import (
    DEFAULT_EVENT_TYPES,
    DEFAULT_HISTORY_DAYS,
    DEFAULT_MAX_CONSECUTIVE_FAILURES,
    WaitCondition,
    check_window,
    describe_failure,
    evaluate,
    parse_since,
    resolve_event_types,
)
from airflow_provider_smtp2go.activity_watch.poller import DEFAULT_POLL_INTERVAL
from airflow_provider_smtp2go.activity_watch.queries import DEFAULT_CHUNK_SIZE, poll_condition, read_full_events
from airflow_provider_smtp2go.activity_watch.sources import check_source, resolve_source
from airflow_provider_smtp2go.client import limits
from airflow_provider_smtp2go.client.activity import ActivityEvent
from airflow_provider_smtp2go.client.errors import (
    Smtp2goError,
    Smtp2goRateLimitError,
    Smtp2goValidationError,
    is_permanent,
)
from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goHook
from airflow_provider_smtp2go.triggers.sealed import SEALED_KEY, unseal
from airflow_provider_smtp2go.webhooks import inbox
from airflow_provider_smtp2go.webhooks.assets import DEFAULT_ACCOUNT, check_account, webhook_asset

if TYPE_CHECKING:
    from airflow_provider_smtp2go.client.sync import Smtp2goClient
    from airflow_provider_smtp2go.triggers.smtp2go import Smtp2goActivityTrigger

#: Keys of the XCom value, identical in poke, reschedule and deferrable modes.
XCOM_KEYS = ("status", "events", "email_ids", "pending_email_ids", "message")


def _is_static(value: Any) -> bool:
    """True when ``value`` is known at parse time (no Jinja, no XComArg)."""
    if value is None or isinstance(value, (datetime, int, float)):
        return True
    if isinstance(value, str):
        return "{{" not in value and "{%" not in value
    if isinstance(value, (list, tuple)):
        return all(_is_static(v) for v in value)
    if isinstance(value, dict):
        return all(_is_static(v) for v in value.values())
    return False


def _coerce_rendered(value: Any) -> Any:
    """A list rendered to text by Jinja (``"['a', 'b']"``) back into a list."""
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        text = value.strip()
        try:
            return json.loads(text)
        except ValueError:
            try:
                return ast.literal_eval(text)
            except (ValueError, SyntaxError):
                return value
    return value


def _with_webhook_inlets(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` whose ``inlets`` also name the assets a webhook-fed wait reads.

    The state store answers only for active assets, i.e. ones a parsed DAG declares; declaring
    them as inlets is what makes the dag-processor keep them active. Templated event types
    cannot be known at parse time: then no inlet is added (some DAG must declare the assets).
    """
    source = kwargs.get("source", "poll")
    event_types = kwargs.get("event_types", DEFAULT_EVENT_TYPES)
    failure_event_types = kwargs.get("failure_event_types")
    if source == "poll" or not (_is_static(event_types) and _is_static(failure_event_types)):
        return kwargs
    account = kwargs.get("webhook_account", DEFAULT_ACCOUNT)
    wanted, failing = resolve_event_types(event_types, failure_event_types)
    inlets = list(kwargs.get("inlets") or ())
    have = {getattr(i, "uri", None) for i in inlets}
    inlets += [a for a in (webhook_asset(t, account) for t in dict.fromkeys(wanted + failing)) if a.uri not in have]
    return {**kwargs, "inlets": inlets}


class Smtp2goActivitySensor(BaseSensorOperator):
    """Wait for activity events (delivered, opened, clicked, bounced...) on SMTP2GO emails.

    >>> Smtp2goActivitySensor(task_id="wait", email_ids="1u0SwL-B9zBpi9ffUq-JAB2",
    ...                       event_types=["opened"], deferrable=True)  # doctest: +SKIP

    :param email_ids: one id, a list, ``"a,b"``, or the send operator's XCom dict(s) (templated).
    :param search_recipient: instead of ids, wait for an email whose recipient contains this.
    :param search_sender: ... whose sender contains this.
    :param search_subject: ... whose subject contains this.
    :param event_types: events that satisfy the wait for an email (any of them); default delivered.
    :param failure_event_types: events that fail the task at once, naming the email and the
        event; default hard-bounced, rejected and spam (minus any type in ``event_types``).
    :param match: ``"all"`` (every id must succeed) or ``"any"`` (one is enough).
    :param since: only events at or after this aware datetime (ISO string or datetime;
        templated). Default: the whole history for ids; the DAG run's start for a search.
    :param history_days: how much activity history the account keeps (30 on paid plans, 5 on
        free, more with the add-on); ``since`` further back is refused. Default from
        ``[smtp2go] activity_history_days`` or 30.
    :param smtp2go_conn_id: the connection to use.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    :param poke_before_defer: poll once on the worker before deferring (default False: N
        sensors would cost N searches before sharing the triggerer's polls). The recorded
        webhook events (``source="webhook"``/``"auto"``) are read before deferring either way:
        that costs no SMTP2GO call.
    :param source: ``"poll"`` (default), ``"webhook"`` or ``"auto"``; ``"webhook"`` raises
        ``ValueError`` at DAG parse before Airflow 3.3.
    :param webhook_account: the receiver's account (``/smtp2go/webhooks/<account>``).
    :param max_consecutive_failures: failed polls in a row (API errors) tolerated before the
        task fails; permanent errors (bad key, bad request) fail at once. Counted within one
        run of the task: in ``mode="reschedule"`` every poke is a new run, so there ``timeout``
        is what bounds a broken API. A rate-limited poke is "not yet", not a failure.
    :param chunk_size: email ids per ``/activity/search`` request.

    ``poke_interval`` defaults to 60 s: one sensor then uses one request per minute out of the
    account's 60; deferred sensors share their polls.
    """

    template_fields: Sequence[str] = (
        "email_ids",
        "search_recipient",
        "search_sender",
        "search_subject",
        "event_types",
        "failure_event_types",
        "match",
        "since",
        "smtp2go_conn_id",
    )
    ui_color = "#d6eaf8"

    def __init__(
        self,
        *,
        email_ids: Any = None,
        search_recipient: str | None = None,
        search_sender: str | None = None,
        search_subject: str | None = None,
        event_types: str | Iterable[str] = DEFAULT_EVENT_TYPES,
        failure_event_types: str | Iterable[str] | None = None,
        match: str = "all",
        since: datetime | str | None = None,
        history_days: float | None = None,
        smtp2go_conn_id: str = Smtp2goHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        poke_interval: float | timedelta = DEFAULT_POLL_INTERVAL,
        poke_before_defer: bool = False,
        source: str = "poll",
        webhook_account: str = DEFAULT_ACCOUNT,
        **kwargs: Any,
    ) -> None:
        self.source = check_source(source)
        self.webhook_account = check_account(webhook_account)
        if self.source == "webhook" and (reason := inbox.unavailable_reason()) is not None:
            raise ValueError(f"Smtp2goActivitySensor: {reason}")
        kwargs = _with_webhook_inlets(
            {
                **kwargs,
                "source": source,
                "event_types": event_types,
                "failure_event_types": failure_event_types,
                "webhook_account": webhook_account,
            }
        )
        for own in ("source", "event_types", "failure_event_types", "webhook_account"):
            del kwargs[own]
        super().__init__(poke_interval=poke_interval, **kwargs)
        self.poke_before_defer = poke_before_defer and self.source != "webhook"
        self.email_ids = email_ids
        self.search_recipient = search_recipient
        self.search_sender = search_sender
        self.search_subject = search_subject
        self.event_types = event_types if isinstance(event_types, str) else list(event_types)
        self.failure_event_types = (
            failure_event_types
            if failure_event_types is None or isinstance(failure_event_types, str)
            else list(failure_event_types)
        )
        self.match = match
        self.since = since
        self.history_days = float(
            history_days
            if history_days is not None
            else conf.getfloat("smtp2go", "activity_history_days", fallback=DEFAULT_HISTORY_DAYS)
        )
        self.smtp2go_conn_id = smtp2go_conn_id
        self.deferrable = deferrable
        if max_consecutive_failures < 1:
            raise ValueError("max_consecutive_failures must be >= 1")
        self.max_consecutive_failures = max_consecutive_failures
        self.chunk_size = chunk_size
        self._condition: WaitCondition | None = None
        self._poke_failures = 0
        self._hook: Smtp2goHook | None = None
        self._client: Smtp2goClient | None = None
        self._validate_static()

    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        """``BaseOperator.partial``; a mapped webhook-fed sensor declares its assets as inlets too.

        A mapped task's ``__init__`` runs only on the worker, so the DAG the dag-processor sees
        has only what ``partial`` was given.
        """
        if kwargs.get("source") == "webhook" and (reason := inbox.unavailable_reason()) is not None:
            raise ValueError(f"Smtp2goActivitySensor: {reason}")
        return super().partial(**_with_webhook_inlets(kwargs))

    # -- validation ---------------------------------------------------------------------------
    def _validate_static(self) -> None:
        """Catch bad literals at DAG parse time; templated values are checked at task start."""
        fields = (
            self.email_ids,
            self.search_recipient,
            self.search_sender,
            self.search_subject,
            self.event_types,
            self.failure_event_types,
            self.match,
        )
        if all(_is_static(v) for v in fields):
            self._make_condition(since=None)
        if _is_static(self.since):
            since = parse_since(self.since)
            check_window(since, now=datetime.now(timezone.utc), history_days=self.history_days)

    def _make_condition(self, since: datetime | str | None) -> WaitCondition:
        return WaitCondition.create(
            email_ids=_coerce_rendered(self.email_ids),
            search_recipient=self.search_recipient or None,
            search_sender=self.search_sender or None,
            search_subject=self.search_subject or None,
            event_types=self.event_types,
            failure_event_types=self.failure_event_types,
            match=self.match,
            since=since,
        )

    def _resolve_condition(self, context: Context) -> WaitCondition:
        """The rendered, validated condition; bad input fails the task without retries."""
        try:
            since = parse_since(self.since)
            condition = self._make_condition(since)
            if since is None and condition.is_search:
                # A search would otherwise match last week's emails: start at this DAG run.
                dag_run = context.get("dag_run")
                started = getattr(dag_run, "start_date", None) if dag_run is not None else None
                since = started if isinstance(started, datetime) else datetime.now(timezone.utc)
                condition = self._make_condition(since.astimezone(timezone.utc))
            check_window(condition.since, now=datetime.now(timezone.utc), history_days=self.history_days)
        except Smtp2goValidationError as exc:
            raise AirflowFailException(f"{self.task_id}: invalid activity wait: {exc}") from None
        return condition

    @property
    def hook(self) -> Smtp2goHook:
        if self._hook is None:
            self._hook = Smtp2goHook(smtp2go_conn_id=self.smtp2go_conn_id)
        return self._hook

    def _activity_client(self) -> Smtp2goClient:
        """The client of this task's pokes: one attempt, bounded by about one poke interval.

        The sensor's loop is the retry loop; a retry budget of minutes inside a poke (or a
        limiter wait past the next poke) would hold the worker for nothing.
        """
        if self._client is None:
            settings = self.hook.get_settings()
            one_request = sum(settings.timeout or limits.DEFAULT_TIMEOUT)
            budget = settings.deadline or limits.DEFAULT_DEADLINE
            deadline = min(budget, max(self._poke_seconds(), one_request))
            self._client = self.hook.get_client(retry=settings.retry_policy(max_attempts=1, deadline=deadline))
        return self._client

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- execution ----------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        self._condition = condition = self._resolve_condition(context)
        self.log.info("Waiting for %s", condition.describe())
        try:
            if not self.deferrable:
                self._say_if_auto_polls(condition)
                return super().execute(context)
            return self._poke_then_defer(context, condition)
        finally:
            self._close_client()

    def _poke_then_defer(self, context: Context, condition: WaitCondition) -> Any:
        # Recorded webhook events cost no SMTP2GO call, so they are read before every deferral:
        # an event recorded before this try started (a late sensor, or a retry) ends the wait
        # here, without a round trip through the triggerer.
        if self.poke_before_defer or self._effective_source(condition) != "poll":
            try:
                first = self._check(condition, poll=self.poke_before_defer)
            except AirflowFailException as exc:
                if self.soft_fail:
                    raise AirflowSkipException(f"Skipping due to soft_fail: {exc}") from exc
                raise
            if first:
                return first.xcom_value if isinstance(first, PokeReturnValue) else None
        self._say_if_auto_polls(condition)
        self.defer(
            trigger=_trigger_class()(
                **condition.to_dict(),
                smtp2go_conn_id=self.smtp2go_conn_id,
                poll_interval=self._poke_seconds(),
                max_consecutive_failures=self.max_consecutive_failures,
                history_days=self.history_days,
                chunk_size=self.chunk_size,
                source=self.source,
                webhook_account=self.webhook_account,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self._timeout_seconds()),
        )

    def _poke_seconds(self) -> float:
        value: Any = self.poke_interval
        return value.total_seconds() if isinstance(value, timedelta) else float(value)

    def _timeout_seconds(self) -> float:
        value: Any = self.timeout
        return value.total_seconds() if isinstance(value, timedelta) else float(value)

    def _effective_source(self, condition: WaitCondition) -> str:
        try:
            return resolve_source(
                self.source, unreadable=inbox.unavailable_reason(), has_email_ids=bool(condition.email_ids)
            )
        except ValueError as exc:
            raise AirflowFailException(f"{self.task_id}: {exc}") from None

    def _say_if_auto_polls(self, condition: WaitCondition) -> None:
        if self.source == "auto" and self._effective_source(condition) == "poll":
            why = (
                inbox.unavailable_reason("reading webhook events") or "webhook events are filed by email id, not search"
            )
            self.log.info("source='auto' polls only: %s", why)

    def _events(self, condition: WaitCondition, *, poll: bool) -> list[ActivityEvent]:
        """This poke's events: the webhook inbox (no SMTP2GO call) and/or, if ``poll``, one poll."""
        source = self._effective_source(condition)
        events: list[ActivityEvent] = []
        if source != "poll":
            events += inbox.read_events_now(self.webhook_account, condition.email_ids, condition.watched_event_types)
        if source != "webhook" and poll:
            events += poll_condition(
                self._activity_client(),
                condition,
                now=datetime.now(timezone.utc),
                history_days=self.history_days,
                chunk_size=self.chunk_size,
            )
        return events

    def poke(self, context: Context) -> bool | PokeReturnValue:
        condition = self._condition or self._resolve_condition(context)
        self._condition = condition
        return self._check(condition, poll=True)

    def _check(self, condition: WaitCondition, *, poll: bool) -> bool | PokeReturnValue:
        try:
            events = self._events(condition, poll=poll)
        except Smtp2goRateLimitError as exc:
            self._not_yet(exc)
            return False
        except Smtp2goError as exc:
            if is_permanent(exc):
                raise AirflowFailException(f"SMTP2GO refused the activity search: {exc}") from exc
            self._poke_failures += 1
            if self._poke_failures >= self.max_consecutive_failures:
                raise AirflowException(
                    f"SMTP2GO activity polling failed {self._poke_failures} times in a row; last error: {exc}"
                ) from exc
            self.log.warning(
                "SMTP2GO activity poll failed (%d/%d): %s", self._poke_failures, self.max_consecutive_failures, exc
            )
            return False
        self._poke_failures = 0
        outcome = evaluate(condition, events)
        if outcome.status == "failed":
            raise AirflowFailException(outcome.message)
        if outcome.status == "satisfied":
            self.log.info("%s", outcome.message)
            payload = outcome.to_payload()
            return PokeReturnValue(is_done=True, xcom_value={k: payload[k] for k in XCOM_KEYS})
        self.log.info("%s", outcome.message)
        return False

    def _not_yet(self, exc: Smtp2goRateLimitError) -> None:
        again = f"; SMTP2GO allows activity searches again in {exc.retry_after:.0f} s" if exc.retry_after else ""
        self.log.warning(
            "SMTP2GO rate limit: not yet; looking again at the next poke, in about %.0f s%s",
            self._poke_seconds(),
            again,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Resume after the trigger: return the events (XCom) or fail with the trigger's message.

        The event holds ids, event types and dates in the clear and the full events (recipient,
        SMTP response...) sealed with the Fernet key, so the XCom and the failure message are
        the same as in poke mode without an SMTP2GO call. Without sealed details (no Fernet
        key, another key) they are read back with one activity search; if that read fails,
        the XCom keeps the short events and a warning says so.
        """
        if not event:
            raise AirflowException(f"{self.task_id}: the SMTP2GO activity trigger ended without an event")
        status = event.get("status")
        message = str(event.get("message") or "")
        details = unseal(event.get(SEALED_KEY))
        try:
            if status == "success":
                self.log.info("%s (after %s poll(s) in the triggerer)", message, event.get("polls"))
                result = {k: event.get(k) for k in XCOM_KEYS}
                if details is not None:
                    result["events"] = list(details.get("events") or [])
                    result["message"] = str(details.get("message") or message)
                else:
                    result["events"] = self._full_events(list(event.get("events") or []))
                return result
            if status == "failed":
                if details is not None and details.get("message"):
                    raise AirflowFailException(str(details["message"]))
                raise AirflowFailException(self._failure_message(event, message))
        finally:
            self._close_client()
        if event.get("permanent"):
            raise AirflowFailException(message)
        raise AirflowException(message or f"SMTP2GO activity trigger failed: {event!r}")

    def _full_events(self, summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not summaries:
            return summaries
        try:
            return read_full_events(
                self._activity_client(), summaries, now=datetime.now(timezone.utc), history_days=self.history_days
            )
        except Smtp2goError as exc:
            self.log.warning(
                "Could not read the details (recipient, SMTP response...) of %d SMTP2GO event(s): %s; "
                "the XCom holds their email_id, event and date only",
                len(summaries),
                exc,
            )
            return summaries

    def _failure_message(self, event: dict[str, Any], message: str) -> str:
        failure = event.get("failure_event")
        if not isinstance(failure, dict):
            return message
        (full,) = self._full_events([failure])
        # The trigger named the email, the event and its date; a poke would also have named the
        # recipient and SMTP2GO's answer. Both texts come from one function, so one replaces the other.
        short = describe_failure(ActivityEvent.from_api(failure), personal=False)
        return message.replace(short, describe_failure(ActivityEvent.from_api(full)), 1)


def _trigger_class() -> type[Smtp2goActivityTrigger]:
    # Imported when a task defers, not when a DAG file is parsed: the trigger module pulls in
    # Airflow's trigger machinery and httpx.
    from airflow_provider_smtp2go.triggers.smtp2go import Smtp2goActivityTrigger  # noqa: PLC0415

    return Smtp2goActivityTrigger
