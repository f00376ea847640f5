"""Thread-safe in-memory state of one sandbox: keys, messages, events, suppressions, templates.

Memory is bounded by ``max_messages``: when a new message would exceed it, the oldest message
and its events are evicted (oldest first).  Arrival counts and duplicate detection cover the
messages still held.

Example::

    >>> from airflow_provider_smtp2go.sandbox.clock import SandboxClock
    >>> state = SandboxState(SandboxClock(), max_messages=10)
    >>> state.add_key("a-test-key")
    >>> state.key_info("a-test-key").username.startswith("api-")
    True
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_smtp2go.sandbox.behaviours import PlannedEvent
from airflow_provider_smtp2go.sandbox.clock import SandboxClock
from airflow_provider_smtp2go.sandbox.wire import format_date, format_timestamp

DEFAULT_IDEMPOTENCY_HEADERS: tuple[str, ...] = ("X-Smtp2go-Idempotency-Key",)


def normalize_path(path: str) -> str:
    """``"/v3/activity/search/"``, ``"/activity/search"`` and ``"activity/search"`` are one path."""
    path = path.split("?", 1)[0].strip().strip("/")
    if path == "v3":
        return ""
    if path.startswith("v3/"):
        path = path[3:]
    return path


def username_for(api_key: str) -> str:
    """The account "username" events show for a key: ``api-`` + 12 uppercase hex, stable per key."""
    return "api-" + hashlib.sha256(api_key.encode("utf-8")).hexdigest()[:12].upper()


@dataclass(frozen=True)
class ApiKey:
    """A key's identity and the endpoints it may call (``None`` = every endpoint)."""

    username: str
    permissions: frozenset[str] | None = None

    def allows(self, path: str) -> bool:
        """True when the key may call ``path`` (``"email/send"`` form)."""
        return self.permissions is None or normalize_path(path) in self.permissions


@dataclass
class AttachmentInfo:
    """What the sandbox kept of an attachment or inline: never the bytes, only their size."""

    filename: str
    mimetype: str
    size: int | None
    url: str | None = None
    inline: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


@dataclass
class ReceivedMessage:
    """A message as the sandbox received it, parsed.

    ``endpoint`` is ``"email/send"`` or ``"email/mime"``.  ``failed_recipients`` lists the
    recipients that were refused because they are suppressed (the message is still recorded:
    it *arrived*).  ``sender_address`` and ``recipients`` are the bare addresses (recipients =
    to + cc + bcc, in that order).
    """

    email_id: str
    endpoint: str
    received_at: datetime
    sender: str
    to: list[str]
    sender_address: str = ""
    recipients: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    bcc: list[str] = field(default_factory=list)
    subject: str = ""
    text_body: str = ""
    html_body: str = ""
    attachments: list[AttachmentInfo] = field(default_factory=list)
    inlines: list[AttachmentInfo] = field(default_factory=list)
    custom_headers: dict[str, str] = field(default_factory=dict)
    template_id: str | None = None
    template_data: dict[str, Any] | None = None
    schedule_id: str | None = None
    scheduled_for: datetime | None = None
    fingerprint: str = ""
    username: str = ""
    size_bytes: int = 0
    failed_recipients: list[str] = field(default_factory=list)
    cancelled: bool = False

    @property
    def send_time(self) -> datetime:
        """When the message goes out: the schedule time if scheduled, else arrival."""
        return self.scheduled_for or self.received_at

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (dates as RFC 3339 UTC)."""
        return {
            "email_id": self.email_id,
            "endpoint": self.endpoint,
            "received_at": format_date(self.received_at),
            "sender": self.sender,
            "sender_address": self.sender_address,
            "recipients": list(self.recipients),
            "to": list(self.to),
            "cc": list(self.cc),
            "bcc": list(self.bcc),
            "subject": self.subject,
            "text_body": self.text_body,
            "html_body": self.html_body,
            "attachments": [a.to_dict() for a in self.attachments],
            "inlines": [a.to_dict() for a in self.inlines],
            "custom_headers": dict(self.custom_headers),
            "template_id": self.template_id,
            "template_data": self.template_data,
            "schedule_id": self.schedule_id,
            "scheduled_for": format_date(self.scheduled_for) if self.scheduled_for else None,
            "fingerprint": self.fingerprint,
            "username": self.username,
            "size_bytes": self.size_bytes,
            "failed_recipients": list(self.failed_recipients),
            "cancelled": self.cancelled,
        }


@dataclass(frozen=True)
class StoredEvent:
    """An activity event: when (``ts``, POSIX seconds), what, for whom, about which message."""

    ts: float
    seq: int
    event: str
    recipient: str
    message: ReceivedMessage
    smtp_response: str = ""
    reason: str = ""


@dataclass
class Suppression:
    """A suppressed address or domain."""

    email_address: str
    reason: str
    block_description: str
    timestamp: datetime

    def to_dict(self) -> dict[str, Any]:
        """The ``/suppression/view`` result shape."""
        return {
            "block_description": self.block_description,
            "complaint": "",
            "email_address": self.email_address,
            "reason": self.reason,
            "subject": None,
            "timestamp": format_timestamp(self.timestamp),
        }


@dataclass
class Template:
    """A stored email template (``{{ var }}`` placeholders).

    ``/template/add`` takes and echoes ``template_name``; view and search answer ``name`` and
    ``last_updated`` (SMTP2GO's published examples).
    """

    id: str
    template_name: str
    subject: str
    html_body: str = ""
    text_body: str = ""
    template_variables: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    last_updated: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``/template/add`` answer's shape."""
        fields = asdict(self)
        del fields["last_updated"]
        return fields

    def view_dict(self) -> dict[str, Any]:
        """The ``/template/view`` shape."""
        return {
            "name": self.template_name,
            "id": self.id,
            "subject": self.subject,
            "tags": list(self.tags),
            "html_body": self.html_body,
            "text_body": self.text_body,
            "template_variables": dict(self.template_variables),
            "last_updated": format_timestamp(self.last_updated) if self.last_updated else "",
        }

    def search_dict(self) -> dict[str, Any]:
        """One ``/template/search`` item: no bodies or variables."""
        return {
            "name": self.template_name,
            "id": self.id,
            "subject": self.subject,
            "tags": list(self.tags),
            "last_updated": format_timestamp(self.last_updated) if self.last_updated else "",
        }


class SandboxState:
    """Everything one sandbox remembers, guarded by one lock."""

    def __init__(
        self,
        clock: SandboxClock,
        *,
        max_messages: int = 100_000,
        idempotency_headers: Iterable[str] = DEFAULT_IDEMPOTENCY_HEADERS,
    ) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be at least 1")
        self.clock = clock
        self.max_messages = max_messages
        self.idempotency_headers = tuple(idempotency_headers)
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._keys: dict[str, ApiKey] = {}
        self._messages: OrderedDict[str, ReceivedMessage] = OrderedDict()
        self._events: dict[str, list[StoredEvent]] = {}
        self._arrivals: Counter[str] = Counter()
        self._suppressions: dict[str, Suppression] = {}
        self._templates: dict[str, Template] = {}
        self._requests: Counter[str] = Counter()
        self._requests_by_key: Counter[tuple[str, str]] = Counter()
        self.evicted = 0
        self._high_water = -1
        self._listeners: list[Callable[[list[StoredEvent]], None]] = []

    def add_listener(self, listener: Callable[[list[StoredEvent]], None]) -> None:
        """Call ``listener(events)`` with the events of every message stored from now on (webhooks)."""
        self._listeners.append(listener)

    # -- keys ---------------------------------------------------------------------------------
    def add_key(self, api_key: str, permissions: Iterable[str] | None = None) -> None:
        """Make ``api_key`` valid, limited to ``permissions`` paths when given."""
        perms = None if permissions is None else frozenset(normalize_path(p) for p in permissions)
        with self._lock:
            self._keys[api_key] = ApiKey(username_for(api_key), perms)

    def key_info(self, api_key: str) -> ApiKey | None:
        """The key's record, or ``None`` if the key is unknown."""
        return self._keys.get(api_key)

    def usernames(self) -> dict[str, str]:
        """username -> key, for the inspection API's per-key counts (keys stay in memory only)."""
        with self._lock:
            return {info.username: key for key, info in self._keys.items()}

    # -- request counts -------------------------------------------------------------------------
    def record_request(self, path: str, api_key: str | None) -> None:
        """Count one request that reached ``path`` (whatever happened to it afterwards)."""
        path = normalize_path(path)
        with self._lock:
            self._requests[path] += 1
            if api_key:
                self._requests_by_key[(path, api_key)] += 1

    def request_count(self, path: str | None = None, api_key: str | None = None) -> int:
        """Requests received, optionally for one path and/or one key."""
        wanted = None if path is None else normalize_path(path)
        with self._lock:
            if api_key is None:
                if wanted is None:
                    return sum(self._requests.values())
                return self._requests[wanted]
            return sum(n for (p, k), n in self._requests_by_key.items() if k == api_key and wanted in (None, p))

    def request_counts(self) -> dict[str, Any]:
        """``{"total": n, "by_path": {...}, "by_username": {username: {path: n}}}``."""
        with self._lock:
            by_user: dict[str, dict[str, int]] = {}
            for (path, key), n in self._requests_by_key.items():
                info = self._keys.get(key)
                user = info.username if info else "unknown-key"
                by_user.setdefault(user, {})
                by_user[user][path] = by_user[user].get(path, 0) + n
            return {
                "total": sum(self._requests.values()),
                "by_path": dict(self._requests),
                "by_username": by_user,
            }

    # -- messages and events --------------------------------------------------------------------
    def add_message(self, message: ReceivedMessage, plans: dict[str, list[PlannedEvent]]) -> None:
        """Store ``message`` and the events planned for each recipient, evicting the oldest."""
        base = message.send_time.timestamp()
        with self._lock:
            events = [
                StoredEvent(base + p.delay, next(self._seq), p.event, rcpt, message, p.smtp_response, p.reason)
                for rcpt, planned in plans.items()
                for p in planned
            ]
            # Group per recipient was convenient to build; readers expect time order.
            events.sort(key=lambda e: (e.ts, e.seq))
            if events:
                self._high_water = max(self._high_water, *(e.seq for e in events))
            self._messages[message.email_id] = message
            self._events[message.email_id] = events
            self._arrivals[message.fingerprint] += 1
            while len(self._messages) > self.max_messages:
                _, old = self._messages.popitem(last=False)
                self._events.pop(old.email_id, None)
                self._arrivals[old.fingerprint] -= 1
                if self._arrivals[old.fingerprint] <= 0:
                    del self._arrivals[old.fingerprint]
                self.evicted += 1
        for listener in self._listeners:  # outside the lock: listeners may take their own
            listener(events)

    def high_water(self) -> int:
        """The newest event's sequence number: pins a paged search to the events that existed."""
        return self._high_water

    def messages(self) -> list[ReceivedMessage]:
        """Messages held, oldest first."""
        with self._lock:
            return list(self._messages.values())

    def message(self, email_id: str) -> ReceivedMessage | None:
        """One message by ``email_id``."""
        with self._lock:
            return self._messages.get(email_id)

    def stored_events(self, email_id: str | None = None) -> list[StoredEvent]:
        """All events (future-dated included), oldest first."""
        with self._lock:
            if email_id is not None:
                return list(self._events.get(email_id, ()))
            out = [e for evs in self._events.values() for e in evs]
        out.sort(key=lambda e: (e.ts, e.seq))
        return out

    def arrivals(self) -> dict[str, int]:
        """fingerprint -> how many times that logical message arrived."""
        with self._lock:
            return dict(self._arrivals)

    # -- scheduled sends ------------------------------------------------------------------------
    def scheduled(self, now: datetime) -> list[ReceivedMessage]:
        """Messages scheduled for after ``now`` and not cancelled, soonest first."""
        with self._lock:
            found = [
                m
                for m in self._messages.values()
                if m.schedule_id and m.scheduled_for and m.scheduled_for > now and not m.cancelled
            ]
        return sorted(found, key=lambda m: m.send_time)

    def cancel_scheduled(self, schedule_id: str, now: datetime) -> ReceivedMessage | None:
        """Cancel a pending scheduled message: it keeps its record but none of its events
        happen.  ``None`` when no pending message has that schedule id."""
        with self._lock:
            for message in self._messages.values():
                pending = message.scheduled_for is not None and message.scheduled_for > now
                if message.schedule_id == schedule_id and pending and not message.cancelled:
                    message.cancelled = True
                    self._events[message.email_id] = []
                    return message
        return None

    # -- suppressions ---------------------------------------------------------------------------
    def suppress(self, address: str, reason: str = "manual", block_description: str = "") -> Suppression:
        """Suppress an address or a whole domain (``example.com``)."""
        key = address.strip().lower()
        record = Suppression(key, reason, block_description, self.clock.now())
        with self._lock:
            self._suppressions[key] = record
        return record

    def unsuppress(self, address: str, reasons: Iterable[str]) -> list[dict[str, Any]]:
        """Remove a suppression when its type is among ``reasons``; one ``/suppression/remove``
        result (``{email_address, reason, removed}``) per reason asked."""
        key = address.strip().lower()
        result: list[dict[str, Any]] = []
        with self._lock:
            current = self._suppressions.get(key)
            for reason in reasons:
                hit = current is not None and current.reason == reason
                result.append({"email_address": key, "reason": reason, "removed": hit})
                if hit:
                    del self._suppressions[key]
                    current = None
        return result

    def is_suppressed(self, address: str) -> bool:
        """True when the bare address or its domain is suppressed."""
        addr = address.strip().lower()
        domain = addr.rsplit("@", 1)[-1]
        with self._lock:
            return addr in self._suppressions or domain in self._suppressions

    def suppressions(self) -> list[Suppression]:
        """All suppressions, oldest first."""
        with self._lock:
            return list(self._suppressions.values())

    # -- templates ------------------------------------------------------------------------------
    def add_template(self, template: Template) -> None:
        """Create or replace a template (stamping ``last_updated``)."""
        template.last_updated = self.clock.now()
        with self._lock:
            self._templates[template.id] = template

    def template(self, template_id: str) -> Template | None:
        """One template, or ``None``."""
        with self._lock:
            return self._templates.get(template_id)

    def remove_template(self, template_id: str) -> Template | None:
        """Forget a template; the one removed, or ``None``."""
        with self._lock:
            return self._templates.pop(template_id, None)

    def templates(self) -> list[Template]:
        """All templates."""
        with self._lock:
            return list(self._templates.values())

    # -- reset ----------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget messages, events, counts, suppressions and templates (keys are kept)."""
        with self._lock:
            self._messages.clear()
            self._events.clear()
            self._arrivals.clear()
            self._suppressions.clear()
            self._templates.clear()
            self._requests.clear()
            self._requests_by_key.clear()
            self.evicted = 0
