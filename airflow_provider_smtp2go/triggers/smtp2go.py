"""Triggers that wait for SMTP2GO activity in the triggerer.

* :class:`Smtp2goActivityTrigger` — what a deferred ``Smtp2goActivitySensor`` waits on. Every
  instance on the same account subscribes to one shared poller
  (:mod:`airflow_provider_smtp2go.activity_watch.poller`), so 200 deferred sensors cost one
  ``/activity/search`` per chunk of 100 email ids per interval, not 200.
* :class:`Smtp2goActivityEventTrigger` — an Airflow 3 ``BaseEventTrigger`` for an
  ``AssetWatcher``: it fires for each new activity event (say, a hard bounce) and so starts a
  DAG run per event. On Airflow 3.3 sibling watchers with the same filters share one poll
  loop through the triggerer's shared streams. On Airflow 2.x it cannot be used (no asset
  watchers); importing it still works.

Both use async connection access only and never poll without sleeping first.

Budget: ``[smtp2go] activity_requests_per_minute`` (env
``AIRFLOW__SMTP2GO__ACTIVITY_REQUESTS_PER_MINUTE``, default 60) is this triggerer process's
share of the account's 60 requests/minute; with N triggerers give each ``60 / N``. A trigger's
explicit ``requests_per_minute`` wins, and the poll loop and its client's limiter both get it.

Privacy: Airflow logs every trigger event's payload at INFO, so the payloads carry ids, event
types and dates only (``Outcome.to_summary``) in the clear; the full events travel sealed with
Airflow's Fernet key (:mod:`.sealed`), so the resumed sensor needs no second activity search.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_smtp2go._compat import BaseEventTrigger, BaseTrigger, TriggerEvent
from airflow_provider_smtp2go.activity_watch.conditions import (
    DEFAULT_EVENT_TYPES,
    DEFAULT_HISTORY_DAYS,
    DEFAULT_MAX_CONSECUTIVE_FAILURES,
    Outcome,
    WaitCondition,
    evaluate,
)
from airflow_provider_smtp2go.activity_watch.poller import (
    DEFAULT_POLL_INTERVAL,
    ActivityWatch,
    account_key,
    shared_pollers,
)
from airflow_provider_smtp2go.activity_watch.queries import DEFAULT_CHUNK_SIZE
from airflow_provider_smtp2go.activity_watch.sources import (
    WEBHOOK_READ_INTERVAL,
    auto_poll_interval,
    check_source,
    resolve_source,
)
from airflow_provider_smtp2go.client.activity import MAX_ACTIVITY_LIMIT, ActivityEvent, parse_event_types
from airflow_provider_smtp2go.client.aio import AsyncSmtp2goClient
from airflow_provider_smtp2go.client.errors import Smtp2goApiError, Smtp2goError, is_permanent
from airflow_provider_smtp2go.client.regions import resolve_base_url
from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goConnectionSettings, Smtp2goHook, process_requests_per_minute
from airflow_provider_smtp2go.triggers.sealed import SEALED_KEY, airflow_fernet, seal
from airflow_provider_smtp2go.webhooks import inbox
from airflow_provider_smtp2go.webhooks.assets import DEFAULT_ACCOUNT, check_account

log = logging.getLogger(__name__)

#: While nothing changes, a waiting trigger repeats its progress line at most this often (s).
PROGRESS_LOG_INTERVAL = 60.0


def _event(payload: dict[str, Any]) -> TriggerEvent:
    return TriggerEvent(payload)  # type: ignore[no-untyped-call]


def _polling_client(settings: Smtp2goConnectionSettings, requests_per_minute: float) -> AsyncSmtp2goClient:
    """A client for a poll loop: no retries of its own (the loop polls again) and the loop's share.

    The share goes to the client's limiter too, so the loop's pacing and the limiter under it
    count one budget.
    """
    return AsyncSmtp2goClient(
        settings.client_settings(max_attempts=1, activity_requests_per_minute=requests_per_minute)
    )


def _error_payload(message: str, exc: BaseException | None, polls: int) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "error_type": type(exc).__name__ if exc is not None else None,
        "permanent": bool(exc is not None and is_permanent(exc)),
        "polls": polls,
    }


class Smtp2goActivityTrigger(BaseTrigger):
    """Wait until activity settles a :class:`~airflow_provider_smtp2go.activity_watch.WaitCondition`.

    Yields exactly one ``TriggerEvent`` whose payload carries everything ``execute_complete``
    needs: ``status`` (``success`` / ``failed`` / ``error``), ``message``, the matching
    ``events``, ``email_ids``, ``pending_email_ids``, ``failure_event`` (when failed) and the
    number of ``polls``. Events are cut to ``email_id``, ``event`` and ``date`` and the message
    names no recipient: Airflow logs the payload at INFO. The full events ride along sealed
    with Airflow's Fernet key (:mod:`.sealed`), so the resumed sensor needs no SMTP2GO call.

    ``source`` (:mod:`~airflow_provider_smtp2go.activity_watch.sources`): ``"poll"`` polls
    ``/activity/search`` through the shared poller; ``"webhook"`` reads the events the webhook
    receiver recorded (:mod:`airflow_provider_smtp2go.webhooks.inbox`, the asset state store,
    Airflow 3.3+) every ``webhook_interval`` seconds and calls SMTP2GO never; ``"auto"`` does
    both, polling at ``max(poll_interval, 300 s)``. Both feed the same ``evaluate``.

    While it waits it logs one progress line (``2 of 3 emails opened; waiting for opened on
    ...``) when the progress changes, and otherwise at most every ``PROGRESS_LOG_INTERVAL``.

    >>> trigger = Smtp2goActivityTrigger(email_ids=["1u0SwL-B9zBpi9ffUq-JAB2"], event_types=["opened"])
    >>> trigger.serialize()[0]
    'airflow_provider_smtp2go.triggers.smtp2go.Smtp2goActivityTrigger'

    :param poll_interval: seconds between polls (the shared poller may stretch it to stay
        within the budget).
    :param max_consecutive_failures: failed polls in a row (API errors, 429s) before the
        trigger gives up with an ``error`` event; a permanent error (bad key) ends it at once.
    :param source: ``"poll"`` (default), ``"webhook"`` or ``"auto"``; ``"webhook"`` raises
        ``ValueError`` before Airflow 3.3 or without email ids, ``"auto"`` then polls.
    :param webhook_account: the receiver's account name (``/smtp2go/webhooks/<account>``).
    :param webhook_interval: seconds between reads of the webhook inbox.
    """

    def __init__(
        self,
        *,
        email_ids: list[str] | None = None,
        search_recipient: str | None = None,
        search_sender: str | None = None,
        search_subject: str | None = None,
        event_types: list[str] | tuple[str, ...] = DEFAULT_EVENT_TYPES,
        failure_event_types: list[str] | tuple[str, ...] | None = None,
        match: str = "all",
        since: str | datetime | None = None,
        smtp2go_conn_id: str = Smtp2goHook.default_conn_name,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        history_days: float = DEFAULT_HISTORY_DAYS,
        requests_per_minute: float | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        source: str = "poll",
        webhook_account: str = DEFAULT_ACCOUNT,
        webhook_interval: float = WEBHOOK_READ_INTERVAL,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.condition = WaitCondition.create(
            email_ids=email_ids or None,
            search_recipient=search_recipient,
            search_sender=search_sender,
            search_subject=search_subject,
            event_types=event_types,
            failure_event_types=failure_event_types,
            match=match,
            since=since,
        )
        if poll_interval <= 0:
            raise ValueError("poll_interval must be > 0")
        if max_consecutive_failures < 1:
            raise ValueError("max_consecutive_failures must be >= 1")
        self.smtp2go_conn_id = smtp2go_conn_id
        self.poll_interval = float(poll_interval)
        self.max_consecutive_failures = int(max_consecutive_failures)
        self.history_days = float(history_days)
        self.requests_per_minute = float(requests_per_minute) if requests_per_minute else None
        self.chunk_size = int(chunk_size)
        self.source = check_source(source)
        self.webhook_account = check_account(webhook_account)
        if webhook_interval <= 0:
            raise ValueError("webhook_interval must be > 0")
        self.webhook_interval = float(webhook_interval)
        # Refuses "webhook" where it cannot work, here (at deferral) rather than in the triggerer.
        self._effective = resolve_source(
            self.source, unreadable=inbox.unavailable_reason(), has_email_ids=bool(self.condition.email_ids)
        )
        self._clock: Callable[[], float] = time.monotonic
        self._last_progress: tuple[str, float] | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                **self.condition.to_dict(),
                "smtp2go_conn_id": self.smtp2go_conn_id,
                "poll_interval": self.poll_interval,
                "max_consecutive_failures": self.max_consecutive_failures,
                "history_days": self.history_days,
                "requests_per_minute": self.requests_per_minute,
                "chunk_size": self.chunk_size,
                "source": self.source,
                "webhook_account": self.webhook_account,
                "webhook_interval": self.webhook_interval,
            },
        )

    async def _watch(self, poll_interval: float) -> ActivityWatch:
        """Subscribe to the account's shared poller (raises when the connection is unusable)."""
        settings = await Smtp2goHook(smtp2go_conn_id=self.smtp2go_conn_id).aget_settings()
        account = account_key(
            settings.api_key, resolve_base_url(settings.region, settings.base_url), settings.subaccount_id
        )
        share = process_requests_per_minute(self.requests_per_minute)
        return shared_pollers.watch(
            self.condition,
            account=account,
            client_factory=lambda: _polling_client(settings, share),
            poll_interval=poll_interval,
            requests_per_minute=share,
            chunk_size=self.chunk_size,
            history_days=self.history_days,
        )

    def _done(self, outcome: Outcome, polls: int, reads: int = 0) -> TriggerEvent:
        payload: dict[str, Any] = {**outcome.to_summary(), "polls": polls}
        if reads:
            payload["webhook_reads"] = reads
        sealed = seal(outcome.to_payload(), fernet=airflow_fernet())
        if sealed is not None:
            payload[SEALED_KEY] = sealed
        self.log.info("SMTP2GO activity: %s (after %d poll(s), %d webhook read(s))", payload["message"], polls, reads)
        return _event(payload)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        if self._effective != "poll":
            async for fired in self._run_with_webhooks():
                yield fired
            return
        if self.source == "auto":
            self.log.info("source='auto' polls only: %s", self._why_polling())
        try:
            watch = await self._watch(self.poll_interval)
        except Exception as exc:
            yield _event(_error_payload(f"cannot use connection {self.smtp2go_conn_id!r}: {exc}", exc, 0))
            return
        polls = failures = 0
        with watch:
            while True:
                result = await watch.next()
                polls += 1
                if result.error is not None:
                    event = self._on_failure(result.error, failures + 1, polls, result.retry_in)
                    if event is not None:
                        yield event
                        return
                    failures += 1
                    continue
                failures = 0
                outcome = evaluate(self.condition, result.events)
                if outcome.done:
                    yield self._done(outcome, polls)
                    return
                self._log_progress(outcome, polls, partial=result.partial)

    async def _run_with_webhooks(self) -> AsyncIterator[TriggerEvent]:
        """Read the webhook inbox every ``webhook_interval``; under "auto" also take the slow polls.

        Under "auto" a failed poll is only logged unless it is permanent (bad key): the
        webhooks still arrive, and the poll is the backstop, not the source.
        """
        watch: ActivityWatch | None = None
        if self._effective == "auto":
            try:
                watch = await self._watch(auto_poll_interval(self.poll_interval))
            except Exception as exc:
                yield _event(_error_payload(f"cannot use connection {self.smtp2go_conn_id!r}: {exc}", exc, 0))
                return
        seen: dict[tuple[str, str, str], ActivityEvent] = {}
        polls = reads = 0
        next_poll = asyncio.ensure_future(watch.next()) if watch is not None else None
        try:
            while True:
                reads += 1
                _merge(seen, await self._read_inbox())
                outcome = evaluate(self.condition, seen.values())
                if outcome.done:
                    yield self._done(outcome, polls, reads)
                    return
                self._log_progress(outcome, reads)
                if next_poll is None or watch is None:
                    await asyncio.sleep(self.webhook_interval)
                    continue
                done, _ = await asyncio.wait({next_poll}, timeout=self.webhook_interval)
                if not done:
                    continue
                result, polls = next_poll.result(), polls + 1
                next_poll = asyncio.ensure_future(watch.next())
                if result.error is None:
                    _merge(seen, result.events)
                elif is_permanent(result.error):
                    yield _event(
                        _error_payload(f"SMTP2GO refused the activity search: {result.error}", result.error, polls)
                    )
                    return
                else:
                    self.log.warning("SMTP2GO activity poll (the webhooks' backstop) failed: %s", result.error)
        finally:
            if next_poll is not None:
                next_poll.cancel()
            if watch is not None:
                watch.close()

    async def _read_inbox(self) -> list[ActivityEvent]:
        try:
            return await inbox.read_events(
                self.webhook_account, self.condition.email_ids, self.condition.watched_event_types
            )
        except Exception as exc:  # the supervisor or the Execution API is busy: read again next interval
            self.log.warning("Could not read the SMTP2GO webhook inbox (%s); reading again shortly", exc)
            return []

    def _why_polling(self) -> str:
        if not self.condition.email_ids:
            return "webhook events are filed by email id, and this wait is a search"
        return str(inbox.unavailable_reason("reading webhook events"))

    def _log_progress(self, outcome: Outcome, polls: int, *, partial: bool = False) -> None:
        """Say how the wait goes: on every change, else at most once per ``PROGRESS_LOG_INTERVAL``."""
        text, now = outcome.progress(self.condition), self._clock()
        if partial:
            # A truncated poll (the poller warned) read only the newest events: keep waiting, and say why.
            text += " (partial: SMTP2GO had more activity than one poll reads; older events unseen)"
        if self._last_progress is not None:
            last_text, last_at = self._last_progress
            if text == last_text and now - last_at < PROGRESS_LOG_INTERVAL:
                return
        self._last_progress = (text, now)
        self.log.info("SMTP2GO activity: %s (poll %d)", text, polls)

    def _on_failure(self, exc: Smtp2goError, failures: int, polls: int, retry_in: float) -> TriggerEvent | None:
        if is_permanent(exc):
            return _event(_error_payload(f"SMTP2GO refused the activity search: {exc}", exc, polls))
        if failures >= self.max_consecutive_failures:
            return _event(
                _error_payload(
                    f"SMTP2GO activity polling failed {failures} times in a row; last error: {exc}", exc, polls
                )
            )
        self.log.warning(
            "SMTP2GO activity poll failed (%d/%d): %s%s",
            failures,
            self.max_consecutive_failures,
            exc,
            f"; every waiter pauses {retry_in:.0f} s" if retry_in else "",
        )
        return None


def _merge(seen: dict[tuple[str, str, str], ActivityEvent], events: Iterable[ActivityEvent]) -> None:
    """Add ``events`` to ``seen``; the same event by webhook and by poll (to the second) counts once."""
    for event in events:
        seen.setdefault(_merge_key(event), event)


async def _webhook_has(account: str, event: dict[str, Any]) -> bool:
    """True when the receiver filed this event (its type, its email, the same second) in the inbox."""
    found = _merge_key(ActivityEvent.from_api(event))
    try:
        held = await inbox.read_events(account, [found[0]], [found[1]])
    except Exception as exc:  # unknown: fire (a duplicate is better than a lost bounce)
        log.warning("Could not read the SMTP2GO webhook inbox (%s); reporting the polled event", exc)
        return False
    return any(_merge_key(e) == found for e in held)


def _merge_key(event: ActivityEvent) -> tuple[str, str, str]:
    return event.email_id, event.event, event.date.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _event_identity(event: dict[str, Any]) -> str:
    return "|".join(str(event.get(k) or "") for k in ("email_id", "event", "date", "recipient"))


class Smtp2goActivityEventTrigger(BaseEventTrigger):
    """Fire once per new SMTP2GO activity event, for an ``AssetWatcher`` (Airflow 3+).

    >>> from airflow.sdk import Asset, AssetWatcher
    >>> bounces = Asset("smtp2go://bounces", watchers=[AssetWatcher(
    ...     name="hard_bounces", trigger=Smtp2goActivityEventTrigger(event_types=["hard-bounced"]))])

    Each ``TriggerEvent`` payload is one activity event (``email_id``, ``event``, ``date``,
    ``recipient``, ``smtp_response``...), available to the DAG run as the asset event's extra.
    Only events dated after the watcher started are reported (no replay of history); events
    reported late by SMTP2GO are still caught for ``lookback`` seconds, and each fires once.

    :param event_types: the events to fire on (default ``["hard-bounced"]``).
    :param search_recipient, search_sender, search_subject: narrow the watch (substring match).
    :param poll_interval: seconds between polls (shared by siblings with the same filters).
    :param lookback: how far back each poll looks, to catch events SMTP2GO reports late.
    :param source: ``"poll"`` (default) or ``"auto"``. ``"webhook"`` is refused: with the
        receiver, the asset events already exist (schedule on
        :func:`~airflow_provider_smtp2go.webhooks.assets.webhook_asset`), and a watcher could
        only repeat them. ``"auto"`` is the gap filler for that webhook asset: attach the
        watcher to ``webhook_asset(type)`` itself; it polls at ``max(poll_interval, 300 s)``
        and fires only for events the receiver has not filed in the webhook inbox (Airflow
        3.3+; before that ``"auto"`` polls and fires for every event, said once in the log).
        A webhook retried *after* the poll reported the event gives that event twice (the
        receiver's dedupe does not see the watcher's asset events); SMTP2GO retries within
        minutes at first, so keep ``lookback`` short of the first retries to make that rare.
    :param webhook_account: the receiver's account whose inbox ``"auto"`` consults.
    """

    def __init__(
        self,
        *,
        event_types: list[str] | tuple[str, ...] = ("hard-bounced",),
        search_recipient: str | None = None,
        search_sender: str | None = None,
        search_subject: str | None = None,
        smtp2go_conn_id: str = Smtp2goHook.default_conn_name,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        lookback: float = 900.0,
        max_consecutive_failures: int = DEFAULT_MAX_CONSECUTIVE_FAILURES,
        source: str = "poll",
        webhook_account: str = DEFAULT_ACCOUNT,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.source = check_source(source)
        if self.source == "webhook":
            raise ValueError(
                "Smtp2goActivityEventTrigger: source='webhook' would only repeat what the receiver records: "
                "schedule the DAG on webhook_asset(event_type) instead (source='auto' fills its gaps)"
            )
        self.webhook_account = check_account(webhook_account)
        self.event_types = parse_event_types(event_types)
        if not self.event_types:
            raise ValueError("event_types: name at least one event type to watch for")
        if poll_interval <= 0 or lookback <= 0:
            raise ValueError("poll_interval and lookback must be > 0")
        self.search_recipient = search_recipient or None
        self.search_sender = search_sender or None
        self.search_subject = search_subject or None
        self.smtp2go_conn_id = smtp2go_conn_id
        self.poll_interval = float(poll_interval)
        self.lookback = float(lookback)
        self.max_consecutive_failures = int(max_consecutive_failures)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "event_types": list(self.event_types),
                "search_recipient": self.search_recipient,
                "search_sender": self.search_sender,
                "search_subject": self.search_subject,
                "smtp2go_conn_id": self.smtp2go_conn_id,
                "poll_interval": self.poll_interval,
                "lookback": self.lookback,
                "max_consecutive_failures": self.max_consecutive_failures,
                "source": self.source,
                "webhook_account": self.webhook_account,
            },
        )

    def shared_stream_key(self) -> Hashable | None:
        """Watchers with the same connection, filters and cadence share one poll (Airflow 3.3+)."""
        _, kwargs = self.serialize()
        return ("smtp2go-activity", *(str(kwargs[k]) for k in sorted(kwargs)))

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """Poll forever; yield each new activity event (a dict) once. Raises after too many failures."""
        watcher = cls(**kwargs)
        settings = await Smtp2goHook(smtp2go_conn_id=watcher.smtp2go_conn_id).aget_settings()
        scanner = _EventScanner(watcher, _polling_client(settings, process_requests_per_minute()))
        seen: OrderedDict[str, float] = OrderedDict()
        failures = 0
        interval = watcher.poll_interval
        gaps_only = watcher.source == "auto" and inbox.AVAILABLE
        if gaps_only:
            interval = auto_poll_interval(interval)
        elif watcher.source == "auto":
            log.info("source='auto' polls and fires for every event: %s", inbox.unavailable_reason("the inbox"))
        delay = interval
        try:
            while True:
                await asyncio.sleep(delay)
                delay = interval
                try:
                    fresh = await scanner.poll()
                except Smtp2goError as exc:
                    failures += 1
                    if is_permanent(exc) or failures >= watcher.max_consecutive_failures:
                        raise
                    delay = max(delay, scanner.client.retry_policy.wait_after(exc, failures))
                    continue
                failures = 0
                now = time.monotonic()
                for event in reversed(fresh):  # oldest first
                    identity = _event_identity(event)
                    if identity in seen:
                        continue
                    seen[identity] = now
                    if gaps_only and await _webhook_has(watcher.webhook_account, event):
                        continue
                    yield event
                # Forget identities older than the lookback: those events can no longer be returned.
                while seen and next(iter(seen.values())) < now - watcher.lookback - watcher.poll_interval:
                    seen.popitem(last=False)
        finally:
            await scanner.client.aclose()

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        async for event in shared_stream:
            if event.get("event") in self.event_types:
                yield _event(event)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """The standalone path (no shared-stream manager, e.g. Airflow 3.0-3.2)."""
        async for event in self.filter_shared_stream(type(self).open_shared_stream(self.serialize()[1])):
            yield event


#: Pages one poll of an event trigger reads, and events per page; the rest of a longer answer
#: is read by the next poll.
EVENT_MAX_PAGES = 10
EVENT_PAGE_SIZE = MAX_ACTIVITY_LIMIT


class _EventScanner:
    """The polls of one event stream: a fresh scan of the lookback window, or the rest of the last one.

    A scan that stops at ``EVENT_MAX_PAGES`` (``truncated``) is not dropped: its filters and
    ``continue_token`` are kept, and the next poll reads on from there before scanning afresh.
    The events it still has to read are older, not lost; a warning says that it happened.
    """

    def __init__(self, watcher: Smtp2goActivityEventTrigger, client: AsyncSmtp2goClient) -> None:
        self.watcher = watcher
        self.client = client
        self.started = datetime.now(timezone.utc)
        self._resume: tuple[dict[str, Any], str] | None = None

    def _fresh_filters(self) -> dict[str, Any]:
        watcher = self.watcher
        since = max(self.started, datetime.now(timezone.utc) - timedelta(seconds=watcher.lookback))
        return {
            "start_date": since,
            "event_types": watcher.event_types,
            "search_recipient": watcher.search_recipient,
            "search_sender": watcher.search_sender,
            "search_subject": watcher.search_subject,
            "limit": EVENT_PAGE_SIZE,
        }

    async def poll(self) -> list[dict[str, Any]]:
        """The events of this poll, newest first (raises ``Smtp2goError``)."""
        if self._resume is None:
            filters, token = self._fresh_filters(), None
        else:
            filters, token = self._resume
        try:
            scan = await self.client.scan_activity(max_pages=EVENT_MAX_PAGES, continue_token=token, **filters)
        except Smtp2goApiError as exc:
            if token is None or exc.status != 400:
                raise
            # The API no longer takes the token (expired?): say so and start afresh next poll.
            self._resume = None
            log.warning("SMTP2GO refused to continue the last activity scan (%s); scanning afresh", exc)
            return []
        next_token = scan.continue_token if scan.truncated else None
        # A token that leads back to itself would hold the stream on one page forever.
        self._resume = (filters, next_token) if next_token and next_token != token else None
        if scan.truncated:
            log.warning(
                "SMTP2GO has more %s events since %s than %d page(s) hold; %s",
                "/".join(self.watcher.event_types),
                filters["start_date"].isoformat(),
                scan.pages,
                "the next poll reads on from there (older events come late, none is dropped)"
                if self._resume
                else "SMTP2GO repeated its continue_token, so the next poll starts afresh",
            )
        return [event.to_dict() for event in scan.events]
