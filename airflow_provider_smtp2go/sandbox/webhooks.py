"""Webhook delivery: every event a registered webhook subscribes to is POSTed, on the sandbox clock.

When the sandbox stores an event (see :mod:`.behaviours`), each webhook that wants it
(:meth:`~.webhook_config.Webhook.wants`) gets a *delivery*: the callback body
(:mod:`.webhook_payloads`), due at the event's moment on the :class:`~.clock.SandboxClock`.
Future events ("opens 30 s after delivery") are therefore posted when the clock gets there:
advancing the clock delivers.  One background thread posts due deliveries in due order
over real HTTP, a fresh connection each (``Connection: close``), to loopback hosts only (a
webhook URL elsewhere is recorded as not sent).  It stops with the sandbox.

Each attempt is recorded with its answer.  An attempt succeeds on a 2xx (what SMTP2GO counts
as success is UNVERIFIED); anything else, a refused connection, or no complete answer within
``timeout`` seconds (default 10, SMTP2GO's per [AE], UNVERIFIED) is retried on
:data:`RETRY_SCHEDULE`, offsets from the first attempt on the sandbox clock: 1, 5, 15 and 30
minutes, then hourly for 24 h, every 6 h for a day, every 12 h for a day and once more a day
later, 36 attempts over about 4 days ([AE]'s phases; its "35 attempts over 48 h" does not add
up, UNVERIFIED).  After the last failure the delivery is ``failed``.

Authentication: ``auth_header_type`` ``bearer``/``basic`` sends ``Authorization: Bearer|Basic
<auth_header_value>`` (for basic the value is already ``base64(user:pass)``); a URL with
``user:pass@`` and no auth header type sends those as Basic credentials (a third-party claim,
UNVERIFIED).  No signature, as SMTP2GO has none.

Faults (:mod:`.webhook_faults`) add duplicates, delays, reordering and a receiver that is down
for N attempts.

Example::

    with Smtp2goSandbox(frozen=True) as sb:        # doctest: +SKIP
        sb.webhook_registry.add({"url": receiver_url, "events": ["bounce"]})
        send_to("x+hard-bounce@example.com")
        sb.webhooks.drain()
        [d["state"] for d in sb.webhooks.deliveries()]   # ['delivered']
"""

from __future__ import annotations

import base64
import contextlib
import heapq
import http.client
import itertools
import secrets
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote, urlsplit

from airflow_provider_smtp2go.sandbox.clock import SandboxClock
from airflow_provider_smtp2go.sandbox.server import is_loopback
from airflow_provider_smtp2go.sandbox.state import StoredEvent
from airflow_provider_smtp2go.sandbox.webhook_config import Webhook, WebhookRegistry
from airflow_provider_smtp2go.sandbox.webhook_faults import WebhookFault, WebhookFaultPlan
from airflow_provider_smtp2go.sandbox.webhook_payloads import WEBHOOK_EVENTS, encode, render, subscription_of
from airflow_provider_smtp2go.sandbox.wire import format_date

_MINUTE, _HOUR = 60.0, 3600.0
RETRY_SCHEDULE: tuple[float, ...] = (
    1 * _MINUTE,
    5 * _MINUTE,
    15 * _MINUTE,
    30 * _MINUTE,
    *(30 * _MINUTE + k * _HOUR for k in range(1, 25)),
    *(24.5 * _HOUR + k * 6 * _HOUR for k in range(1, 5)),
    *(48.5 * _HOUR + k * 12 * _HOUR for k in range(1, 3)),
    96.5 * _HOUR,
)
"""When attempts 2, 3, ... are due: seconds after the first attempt (36 attempts in all)."""

DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_DELIVERIES = 100_000
USER_AGENT = "smtp2go-sandbox-webhooks/1.0"
THREAD_NAME = "smtp2go-sandbox-webhooks"
_TICK = 0.02  # how often the deliverer looks at the clock while something is waiting
_EXCERPT = 200
_NOT_LOOPBACK = "not sent: the sandbox delivers webhooks to loopback addresses only"


@dataclass
class DeliveryAttempt:
    """One POST (or a refusal to make it): when, what came back, how long it took (real seconds)."""

    number: int
    at: float
    status: int | None
    error: str = ""
    elapsed: float = 0.0
    response_excerpt: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "number": self.number,
            "at": format_date(datetime.fromtimestamp(self.at, tz=timezone.utc)),
            "status": self.status,
            "error": self.error,
            "elapsed": round(self.elapsed, 6),
            "response_excerpt": self.response_excerpt,
        }


@dataclass
class Delivery:
    """One callback to one webhook, and everything that happened to it."""

    id: int
    webhook_id: int
    url: str
    event: str
    activity_event: str
    email_id: str
    recipient: str
    callback_id: str
    content_type: str
    body: bytes
    headers: dict[str, str] = field(repr=False)
    due: float
    state: str = "pending"  # pending | delivered | failed | cancelled
    attempts: list[DeliveryAttempt] = field(default_factory=list)
    copy_of: int | None = None
    held: bool = False
    faults: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form; the Authorization value is shown as ``***``."""
        shown = {k: (v.split(" ", 1)[0] + " ***" if k == "Authorization" else v) for k, v in self.headers.items()}
        return {
            "id": self.id,
            "webhook_id": self.webhook_id,
            "url": self.url,
            "event": self.event,
            "activity_event": self.activity_event,
            "email_id": self.email_id,
            "recipient": self.recipient,
            "callback_id": self.callback_id,
            "content_type": self.content_type,
            "body": self.body.decode("utf-8", "replace"),
            "headers": shown,
            "due": format_date(datetime.fromtimestamp(self.due, tz=timezone.utc)),
            "state": self.state,
            "attempts": [a.to_dict() for a in self.attempts],
            "copy_of": self.copy_of,
            "faults": list(self.faults),
        }


def request_headers(hook: Webhook, content_type: str, length: int) -> dict[str, str]:
    """The headers of a callback to ``hook`` (its auth header included)."""
    headers = {"Content-Type": content_type, "Content-Length": str(length), "User-Agent": USER_AGENT}
    if hook.auth_header_type in ("bearer", "basic"):
        headers["Authorization"] = f"{hook.auth_header_type.capitalize()} {hook.auth_header_value}"
    else:
        parts = urlsplit(hook.url)
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    return headers


class WebhookDeliverer:
    """Turns stored events into deliveries and posts them; inspect with :meth:`deliveries`."""

    def __init__(
        self,
        registry: WebhookRegistry,
        clock: SandboxClock,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry_schedule: Iterable[float] = RETRY_SCHEDULE,
        max_deliveries: int = DEFAULT_MAX_DELIVERIES,
        fault_seed: int = 0,
    ) -> None:
        if isinstance(timeout, bool) or not 0 < timeout < threading.TIMEOUT_MAX:
            raise ValueError(f"webhook timeout must be a positive number of seconds, not {timeout!r}")
        self.registry = registry
        self.clock = clock
        self.timeout = float(timeout)
        self.retry_schedule = tuple(float(s) for s in retry_schedule)
        self.max_deliveries = max_deliveries
        self.faults = WebhookFaultPlan(seed=fault_seed)
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._deliveries: OrderedDict[int, Delivery] = OrderedDict()
        self._heap: list[tuple[float, int]] = []
        self._held: set[int] = set()  # out_of_order callbacks waiting to be overtaken
        self._busy = False
        self._inflight: tuple[socket.socket, float] | None = None
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the delivery thread (and its timeout watchdog).  Idempotent."""
        if self._threads:
            return
        self._stopping.clear()
        for target, name in ((self._run, THREAD_NAME), (self._watchdog, f"{THREAD_NAME}-watchdog")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop posting: an attempt in flight is cut off (and recorded as failed)."""
        self._stopping.set()
        self._cut_inflight()
        with self._cond:
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def reset(self) -> None:
        """Forget deliveries and faults (the registry is reset by its owner)."""
        with self._cond:
            self._deliveries.clear()
            self._heap.clear()
            self._held.clear()
        self.faults.clear()

    # -- creating deliveries --------------------------------------------------------------------
    def on_events(self, events: list[StoredEvent]) -> None:
        """The state's listener: plan a delivery for every (event, webhook that wants it)."""
        hooks = self.registry.all()
        if not hooks:
            return
        processed_seen: set[str] = set()
        for ev in events:
            subscription = subscription_of(ev.event)
            if subscription is None:
                continue
            if ev.event == "processed":
                # One processed callback per email, listing every recipient.
                if ev.message.email_id in processed_seen:
                    continue
                processed_seen.add(ev.message.email_id)
            for hook in hooks:
                if hook.wants(subscription, ev.message.username):
                    self._plan(ev, hook)

    def _plan(self, ev: StoredEvent, hook: Webhook) -> None:
        callback_id = secrets.token_hex(16)
        content_type, body = encode(render(ev, hook, callback_id), hook.output_format)
        event = WEBHOOK_EVENTS[ev.event][0]
        original = self._new_delivery(
            ev, hook, event=event, callback_id=callback_id, content_type=content_type, body=body
        )
        copies: list[Delivery] = []
        for fault in self.faults.take_creation(event, hook.id):
            if fault.kind == "duplicate":
                copy = self._new_delivery(
                    ev, hook, event=event, callback_id=callback_id, content_type=content_type, body=body
                )
                copy.copy_of = original.id
                copy.due = original.due + fault.hold()
                copy.faults.append("duplicate")
                copies.append(copy)
            else:
                original.due += fault.hold()
                original.held = original.held or fault.kind == "out_of_order"
                original.faults.append(fault.kind)
        for delivery in (original, *copies):
            self._enqueue(delivery)

    def _new_delivery(
        self, ev: StoredEvent, hook: Webhook, *, event: str, callback_id: str, content_type: str, body: bytes
    ) -> Delivery:
        return Delivery(
            id=next(self._ids),
            webhook_id=hook.id,
            url=hook.url,
            event=event,
            activity_event=ev.event,
            email_id=ev.message.email_id,
            recipient="" if event == "processed" else ev.recipient,
            callback_id=callback_id,
            content_type=content_type,
            body=body,
            headers=request_headers(hook, content_type, len(body)),
            due=ev.ts,
        )

    def _enqueue(self, delivery: Delivery) -> None:
        with self._cond:
            self._deliveries[delivery.id] = delivery
            if delivery.held:
                self._held.add(delivery.id)
            heapq.heappush(self._heap, (delivery.due, delivery.id))
            self._evict()
            self._cond.notify_all()

    def _evict(self) -> None:
        while len(self._deliveries) > self.max_deliveries:
            oldest = next(iter(self._deliveries.values()))
            if oldest.state == "pending":
                return  # never forget work still to do
            self._deliveries.popitem(last=False)

    # -- inspection -----------------------------------------------------------------------------
    def deliveries(
        self, *, webhook_id: int | None = None, event: str | None = None, email_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Every delivery (oldest first) with its attempts; filters are ANDed.

        ``event`` takes either spelling (``bounce`` or ``hard-bounced``).
        """
        with self._cond:
            found = [
                d.to_dict()
                for d in self._deliveries.values()
                if (webhook_id is None or d.webhook_id == webhook_id)
                and (event is None or event in (d.event, d.activity_event))
                and (email_id is None or d.email_id == email_id)
            ]
        return found

    def attempts(self) -> list[dict[str, Any]]:
        """Every attempt of every delivery, in the order they were made."""
        with self._cond:
            rows = [
                {"delivery_id": d.id, "webhook_id": d.webhook_id, "event": d.event, **a.to_dict(), "_at": a.at}
                for d in self._deliveries.values()
                for a in d.attempts
            ]
        rows.sort(key=lambda r: (r.pop("_at"), r["delivery_id"], r["number"]))
        return rows

    def inject_fault(
        self,
        kind: str,
        *,
        count: int | None = None,
        rate: float | None = None,
        event: str | None = None,
        webhook_id: int | None = None,
        delay: float | None = None,
    ) -> WebhookFault:
        """Script a delivery fault; see :mod:`~airflow_provider_smtp2go.sandbox.webhook_faults`."""
        return self.faults.add(
            WebhookFault(kind, count=count, rate=rate, event=event, webhook_id=webhook_id, delay=delay)
        )

    def pending(self) -> int:
        """Deliveries not finished yet (due later, or waiting for a retry)."""
        with self._cond:
            return sum(1 for d in self._deliveries.values() if d.state == "pending")

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every delivery due by now (sandbox clock) has been attempted; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._busy or self._due_now():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, _TICK))
        return True

    def _due_now(self) -> bool:
        now = self.clock.timestamp()
        return any(due <= now and self._live(due, i) for due, i in self._heap)

    def _live(self, due: float, delivery_id: int) -> bool:
        d = self._deliveries.get(delivery_id)
        return d is not None and d.state == "pending" and d.due == due

    # -- the delivery thread --------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stopping.is_set():
            with self._cond:
                delivery = self._pop_due()
                if delivery is None:
                    self._cond.wait(_TICK)  # a new delivery wakes us; the tick notices clock moves
                    continue
                self._busy = True
            try:
                self._attempt(delivery)
            finally:
                with self._cond:
                    self._busy = False
                    self._after_attempt(delivery)
                    self._cond.notify_all()

    def _pop_due(self) -> Delivery | None:
        now = self.clock.timestamp()
        while self._heap and self._heap[0][0] <= now:
            due, delivery_id = heapq.heappop(self._heap)
            if self._live(due, delivery_id):
                return self._deliveries[delivery_id]
        return None

    def _after_attempt(self, delivery: Delivery) -> None:
        """Schedule the retry, and release held callbacks this one has now overtaken."""
        self._held.discard(delivery.id)
        if delivery.state == "pending":
            heapq.heappush(self._heap, (delivery.due, delivery.id))
        now = self.clock.timestamp()
        for other_id in [i for i in self._held if i < delivery.id]:
            self._held.discard(other_id)
            other = self._deliveries.get(other_id)
            if other is not None and other.webhook_id == delivery.webhook_id:
                other.held = False
                if other.state == "pending" and other.due > now:
                    other.due = now
                    heapq.heappush(self._heap, (other.due, other.id))
            elif other is not None:
                self._held.add(other_id)

    def _attempt(self, delivery: Delivery) -> None:
        number = len(delivery.attempts) + 1
        at = self.clock.timestamp()
        if self.registry.get(delivery.webhook_id) is None:
            delivery.state = "cancelled"
            return
        if self.faults.take_attempt(delivery.event, delivery.webhook_id) is not None:
            attempt = DeliveryAttempt(number, at, None, "connection refused (injected 'down' fault)")
        elif not is_loopback(urlsplit(delivery.url).hostname or ""):
            delivery.attempts.append(DeliveryAttempt(number, at, None, _NOT_LOOPBACK))
            delivery.state = "failed"
            return
        else:
            attempt = self._post(delivery, number, at)
        delivery.attempts.append(attempt)
        if attempt.status is not None and 200 <= attempt.status < 300:
            delivery.state = "delivered"
        elif number - 1 < len(self.retry_schedule):
            delivery.due = delivery.attempts[0].at + self.retry_schedule[number - 1]
        else:
            delivery.state = "failed"

    def _post(self, delivery: Delivery, number: int, at: float) -> DeliveryAttempt:
        parts = urlsplit(delivery.url)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(
                parts.hostname or "", parts.port, timeout=self.timeout, context=ssl.create_default_context()
            )
        else:
            conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=self.timeout)
        started = time.monotonic()
        try:
            conn.connect()
            with self._cond:
                self._inflight = (conn.sock, started + self.timeout)
            conn.request("POST", path, body=delivery.body, headers={**delivery.headers, "Connection": "close"})
            response = conn.getresponse()
            excerpt = response.read(64 * 1024)[:_EXCERPT].decode("utf-8", "replace")
            return DeliveryAttempt(number, at, response.status, "", time.monotonic() - started, excerpt)
        except (OSError, http.client.HTTPException) as exc:
            elapsed = time.monotonic() - started
            reason = "timed out" if elapsed >= self.timeout or isinstance(exc, TimeoutError) else type(exc).__name__
            return DeliveryAttempt(number, at, None, f"{reason}: {exc}"[:_EXCERPT], elapsed)
        finally:
            with self._cond:
                self._inflight = None
            conn.close()

    def _watchdog(self) -> None:
        # A receiver that trickles its answer never trips the per-read socket timeout; the
        # watchdog holds every attempt to one overall deadline.
        while not self._stopping.wait(_TICK * 5):
            with self._cond:
                inflight = self._inflight
            if inflight is not None and time.monotonic() > inflight[1]:
                self._cut_inflight()

    def _cut_inflight(self) -> None:
        with self._cond:
            inflight = self._inflight
        if inflight is not None:
            with contextlib.suppress(OSError):
                inflight[0].shutdown(socket.SHUT_RDWR)
