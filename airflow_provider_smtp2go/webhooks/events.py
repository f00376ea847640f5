"""SMTP2GO webhook posts -> the :class:`~airflow_provider_smtp2go.client.activity.ActivityEvent`s
``/activity/search`` would show: same model, same event names (``hard-bounced``, ``opened``...).

Pure Python, no Airflow: a receiver written for another framework can reuse it.

* Bodies: ``application/x-www-form-urlencoded`` (SMTP2GO's default) read as a multi-map, so a
  repeated ``recipients`` key keeps every value; ``application/json``; ``multipart/form-data``
  (said to occur, UNVERIFIED).
* Event names: the webhook spelling (``bounce`` + ``bounce=hard|soft``, ``open``, ``click``,
  ``unsubscribe``...) and the long forms a third-party client claims to have seen
  (``opened``, ``clicked``, ``spam_complaint``...) both map to the activity names.  A ``bounce``
  without its class counts as ``soft-bounced``: calling it hard could suppress a good address.
* One event per recipient, as the activity API lists them: a ``processed`` post names all
  recipients and yields one ``processed`` event for each.
* ``raw`` carries activity-style fields (``date``, ``recipient``, ``sender``, ``subject``,
  ``username``, ``smtp_response``, ``host``, ``reason``, ``custom_headers``, ``email_client``,
  ``metadata.url``) plus ``source: "webhook"`` and the post itself under ``webhook``.
* SMS events and names nobody documents yield no event (``[]``), so SMTP2GO is not told to
  retry something that will never be understood.

Example::

    >>> [event] = parse_events("application/x-www-form-urlencoded",
    ...     b"event=bounce&bounce=hard&email_id=1u0SwL-B9zBpi9ffUq-JAB2&rcpt=jo%40example.com"
    ...     b"&time=2026-11-26T10:00:00Z&subject=Hi")
    >>> event.event, event.recipient, event.date.isoformat()
    ('hard-bounced', 'jo@example.com', '2026-11-26T10:00:00+00:00')
"""

from __future__ import annotations

import email.parser
import email.policy
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from airflow_provider_smtp2go.client.activity import ActivityEvent, EventType, parse_api_datetime

MultiMap = dict[str, list[str]]
"""A post's fields: every key with all its values, in order."""

EVENT_NAMES: dict[str, str] = {
    "processed": EventType.PROCESSED.value,
    "delivered": EventType.DELIVERED.value,
    "open": EventType.OPENED.value,
    "opened": EventType.OPENED.value,
    "click": EventType.CLICKED.value,
    "clicked": EventType.CLICKED.value,
    "spam": EventType.SPAM.value,
    "spam_complaint": EventType.SPAM.value,
    "unsubscribe": EventType.UNSUBSCRIBED.value,
    "unsubscribed": EventType.UNSUBSCRIBED.value,
    "resubscribe": EventType.RESUBSCRIBED.value,
    "resubscribed": EventType.RESUBSCRIBED.value,
    "reject": EventType.REJECTED.value,
    "rejected": EventType.REJECTED.value,
    "hard-bounced": EventType.HARD_BOUNCED.value,
    "soft-bounced": EventType.SOFT_BOUNCED.value,
}
"""Webhook ``event`` value -> activity event type (``bounce`` is decided by its class)."""

# Fields SMTP2GO documents; any other key of a post is an echoed email header.
_KNOWN_FIELDS = frozenset(
    {
        "event", "time", "sendtime", "sender", "from", "from_address", "from_name", "rcpt",
        "recipients", "auth", "host", "message", "context", "email_id", "id", "message-id",
        "bounce", "subject", "user-agent", "read-secs", "client", "client-device", "client-os",
        "geoip-continent", "geoip-country", "geoip-city", "srchost", "url", "click_url", "link",
    }
)  # fmt: skip
_DEFAULT_HEADERS = frozenset({"subject", "message-id"})


class WebhookPayloadError(ValueError):
    """A post that is not an SMTP2GO callback (unreadable body, no ``event`` or ``email_id``)."""


def parse_body(content_type: str | None, body: bytes) -> MultiMap:
    """Read a post's body into a multi-map; ``WebhookPayloadError`` when it cannot be read.

    >>> parse_body("application/json", b'{"event": "processed", "recipients": ["a@x.io", "b@x.io"]}')
    {'event': ['processed'], 'recipients': ['a@x.io', 'b@x.io']}
    """
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime == "application/json" or mime.endswith("+json") or (not mime and body.lstrip().startswith(b"{")):
        return _from_json(body)
    if mime == "multipart/form-data":
        return _from_multipart(content_type or "", body)
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WebhookPayloadError(f"the body is not a form ({type(exc).__name__})") from None
    fields: MultiMap = {}
    for key, value in pairs:
        fields.setdefault(key, []).append(value)
    return fields


def _from_json(body: bytes) -> MultiMap:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise WebhookPayloadError("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise WebhookPayloadError("the JSON body is not an object")
    fields: MultiMap = {}
    for key, value in data.items():
        values = value if isinstance(value, list) else [value]
        fields[str(key)] = ["" if v is None else v if isinstance(v, str) else json.dumps(v) for v in values]
    return fields


def _from_multipart(content_type: str, body: bytes) -> MultiMap:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise WebhookPayloadError("the multipart body has no parts")
    fields: MultiMap = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        fields.setdefault(str(name), []).append(data.decode(part.get_content_charset() or "utf-8", "replace"))
    return fields


def _one(fields: Mapping[str, list[str]], *names: str) -> str | None:
    for name in names:
        for value in fields.get(name, ()):
            if value.strip():
                return value.strip()
    return None


def event_type(fields: Mapping[str, list[str]]) -> str | None:
    """The activity event type a post is about, or ``None`` when it is not an email event we know."""
    posted = (_one(fields, "event") or "").lower()
    if posted == "bounce":
        return EventType.HARD_BOUNCED.value if (_one(fields, "bounce") or "").lower() == "hard" else "soft-bounced"
    return EVENT_NAMES.get(posted)


def normalise(fields: Mapping[str, list[str]]) -> list[ActivityEvent]:
    """The activity events one post stands for (one per recipient); ``[]`` for events we ignore."""
    if not _one(fields, "event"):
        raise WebhookPayloadError("the post has no 'event'")
    email_id = _one(fields, "email_id")
    if not email_id:
        raise WebhookPayloadError("the post has no 'email_id'")
    kind = event_type(fields)
    if kind is None:
        return []
    stamp = _one(fields, "time", "sendtime")
    try:
        date = parse_api_datetime(stamp or "")
    except ValueError:
        raise WebhookPayloadError(f"the post's 'time' is not a date: {stamp!r:.40}") from None
    recipients = [r.strip() for r in fields.get("recipients", []) if r.strip()]
    rcpt = _one(fields, "rcpt")
    targets: list[str | None] = [rcpt] if rcpt else [*recipients] or [None]
    raw = _activity_fields(fields, kind, date.strftime("%Y-%m-%dT%H:%M:%SZ"), email_id, recipients)
    return [
        ActivityEvent(
            email_id=email_id,
            event=kind,
            date=date,
            recipient=target,
            sender=raw["sender"],
            subject=raw["subject"],
            raw={**raw, "recipient": target},
        )
        for target in targets
    ]


def _activity_fields(
    fields: Mapping[str, list[str]], kind: str, date: str, email_id: str, recipients: list[str]
) -> dict[str, Any]:
    message = _one(fields, "message") or ""
    raw: dict[str, Any] = {
        "email_id": email_id,
        "event": kind,
        "date": date,
        "sender": _one(fields, "sender", "from_address", "from"),
        "from": _one(fields, "from_address", "from", "sender"),
        "subject": _one(fields, "subject", "Subject"),
        "recipients": recipients,
        "username": _one(fields, "auth"),
        "host": _one(fields, "host") or "",
        "smtp_response": "" if kind == EventType.REJECTED.value else message,
        "reason": message if kind == EventType.REJECTED.value else "",
        "custom_headers": {
            k: v[-1] for k, v in fields.items() if k not in _KNOWN_FIELDS and k.lower() not in _DEFAULT_HEADERS and v
        },
        "source": "webhook",
        "webhook": {k: v[0] if len(v) == 1 else list(v) for k, v in fields.items()},
    }
    if kind in (EventType.OPENED.value, EventType.CLICKED.value):
        raw["email_client"] = {
            "client": _one(fields, "client") or "",
            "client_device": _one(fields, "client-device") or "",
            "client_os": _one(fields, "client-os") or "",
        }
        raw["metadata"] = {"url": _one(fields, "url", "click_url", "link")} if kind == EventType.CLICKED.value else {}
    return raw


def parse_events(content_type: str | None, body: bytes) -> list[ActivityEvent]:
    """``normalise(parse_body(content_type, body))``."""
    return normalise(parse_body(content_type, body))
