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
types and dates only (``Outcome.to_summary``); the sensor reads the full events for its XCom.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable
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
from airflow_provider_smtp2go.activity_watch.poller import DEFAULT_POLL_INTERVAL, account_key, shared_pollers
from airflow_provider_smtp2go.activity_watch.queries import DEFAULT_CHUNK_SIZE
from airflow_provider_smtp2go.client.activity import MAX_ACTIVITY_LIMIT, parse_event_types
from airflow_provider_smtp2go.client.aio import AsyncSmtp2goClient
from airflow_provider_smtp2go.client.errors import Smtp2goApiError, Smtp2goError, is_permanent
from airflow_provider_smtp2go.client.regions import resolve_base_url
from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goConnectionSettings, Smtp2goHook, process_requests_per_minute

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
    names no recipient: Airflow logs the payload at INFO.

    While it waits it logs one progress line (``2 of 3 emails opened; waiting for opened on
    ...``) when the progress changes, and otherwise at most every ``PROGRESS_LOG_INTERVAL``.

    >>> trigger = Smtp2goActivityTrigger(email_ids=["1u0SwL-B9zBpi9ffUq-JAB2"], event_types=["opened"])
    >>> trigger.serialize()[0]
    'airflow_provider_smtp2go.triggers.smtp2go.Smtp2goActivityTrigger'

    :param poll_interval: seconds between polls (the shared poller may stretch it to stay
        within the budget).
    :param max_consecutive_failures: failed polls in a row (API errors, 429s) before the
        trigger gives up with an ``error`` event; a permanent error (bad key) ends it at once.
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
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        polls = 0
        try:
            settings = await Smtp2goHook(smtp2go_conn_id=self.smtp2go_conn_id).aget_settings()
            account = account_key(
                settings.api_key, resolve_base_url(settings.region, settings.base_url), settings.subaccount_id
            )
        except Exception as exc:
            yield _event(_error_payload(f"cannot use connection {self.smtp2go_conn_id!r}: {exc}", exc, polls))
            return
        share = process_requests_per_minute(self.requests_per_minute)
        watch = shared_pollers.watch(
            self.condition,
            account=account,
            client_factory=lambda: _polling_client(settings, share),
            poll_interval=self.poll_interval,
            requests_per_minute=share,
            chunk_size=self.chunk_size,
            history_days=self.history_days,
        )
        failures = 0
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
                    payload = {**outcome.to_summary(), "polls": polls}
                    self.log.info("SMTP2GO activity: %s (after %d poll(s))", payload["message"], polls)
                    yield _event(payload)
                    return
                self._log_progress(outcome, polls, partial=result.partial)

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
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
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
        delay = watcher.poll_interval
        try:
            while True:
                await asyncio.sleep(delay)
                delay = watcher.poll_interval
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
