"""``/activity/search``: filter, order and page the stored events.

Only events dated at or before ``clock.now()`` are visible; future-dated events (an open
"30 s after delivery") appear when the clock reaches them.  Dates are UTC with
``[start_date, end_date)`` semantics; ``start_date`` defaults to today's midnight and, without
``end_date``, everything up to now is included.  Results are newest first.

Paging: when more events match than ``limit``, the answer carries an opaque
``continue_token``; send the same filters plus the token for the next page.  The token pins
the "now" and the newest event of the first page, so pages neither skip nor repeat events
while the clock moves or new mail arrives.
``continue_token`` is ``null`` on the last page; ``total_events`` counts every match.

The sandbox has no subaccounts: every event reads ``subaccount_name: "Master account"`` and a
non-empty ``subaccounts`` filter matches nothing.  ``custom_headers`` in each event holds
only the headers named in the request's ``custom_headers`` list (empty otherwise).

Example request::

    {"search_recipient": "alice@example.com", "event_types": ["delivered"], "limit": 10}
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow_provider_smtp2go.sandbox.clock import SandboxClock
from airflow_provider_smtp2go.sandbox.state import ReceivedMessage, SandboxState, StoredEvent
from airflow_provider_smtp2go.sandbox.wire import (
    Response,
    decode_json,
    format_date,
    parse_datetime,
    success,
    validation_error,
)

EVENT_TYPES: tuple[str, ...] = (
    "processed",
    "soft-bounced",
    "hard-bounced",
    "rejected",
    "spam",
    "delivered",
    "unsubscribed",
    "resubscribed",
    "opened",
    "clicked",
)
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

SANDBOX_HOST = "192.0.2.25"  # TEST-NET-1: clearly not a real mail server
SANDBOX_OUTBOUND_IP = "192.0.2.10"
_HOST_EVENTS = frozenset({"delivered", "soft-bounced", "hard-bounced"})
_CLIENT = {"client": "Sandbox Mail", "client_device": "desktop", "client_os": "Linux"}


def message_id(message: ReceivedMessage) -> str:
    """The ``Message-Id`` header the sandbox gives a message (events and webhooks show it)."""
    return f"<{message.email_id}@sandbox.smtp2go.local>"


def _headers_text(ev: StoredEvent) -> str:
    m = ev.message
    lines = [f"From: {m.sender}", f"To: {', '.join(m.to)}"]
    if m.cc:
        lines.append(f"Cc: {', '.join(m.cc)}")
    lines += [f"Subject: {m.subject}", f"Message-Id: {message_id(m)}"]
    if m.schedule_id:
        lines.append(f"X-Smtp2go-Schedule-Id: {m.schedule_id}")
    lines += [f"{k}: {v}" for k, v in m.custom_headers.items()]
    return "\n".join(lines)


def render_event(
    ev: StoredEvent, *, include_headers: bool = False, custom_headers: Iterable[str] | None = ()
) -> dict[str, Any]:
    """An event object as ``/activity/search`` returns it.

    ``custom_headers=None`` includes every custom header (the inspection API's choice).
    """
    m = ev.message
    if custom_headers is None:
        picked = dict(m.custom_headers)
    else:
        by_lower = {k.lower(): (k, v) for k, v in m.custom_headers.items()}
        picked = dict(by_lower[name.lower()] for name in custom_headers if name.lower() in by_lower)
    reply_to = next((v for k, v in m.custom_headers.items() if k.lower() == "reply-to"), "")
    out: dict[str, Any] = {
        "email_id": m.email_id,
        "date": format_date(datetime.fromtimestamp(ev.ts, tz=timezone.utc)),
        "event": ev.event,
        "from": m.sender_address,
        "sender": m.sender_address,
        "sender_full": m.sender,
        "recipient": ev.recipient,
        "recipients": list(m.recipients),
        "to": ", ".join(m.to),
        "cc": ", ".join(m.cc),
        "bcc": ", ".join(m.bcc),
        "reply_to": reply_to,
        "subject": m.subject,
        "username": m.username,
        "subaccount_name": "Master account",
        "smtp_response": ev.smtp_response,
        "reason": ev.reason,
        "host": SANDBOX_HOST if ev.event in _HOST_EVENTS else "",
        "outbound_ip": SANDBOX_OUTBOUND_IP,
        "byte_size": m.size_bytes,
        "custom_headers": picked,
    }
    if ev.event in ("opened", "clicked"):
        out["email_client"] = dict(_CLIENT)
        out["metadata"] = {"url": first_link(m.html_body)} if ev.event == "clicked" else {}
    if include_headers:
        out["headers"] = _headers_text(ev)
    return out


def first_link(html: str) -> str:
    """The first ``href`` of an HTML body: the link a "click" follows."""
    start = html.find('href="')
    if start < 0:
        return "https://example.com/"
    end = html.find('"', start + 6)
    return html[start + 6 : end] if end > start else "https://example.com/"


def _strings(payload: dict[str, Any], name: str) -> list[str] | Response | None:
    value = payload.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return validation_error(name, f"The field '{name}' was expecting an array of strings.")
    return list(value)


def _encode_token(as_of: float, high_water: int, offset: int) -> str:
    raw = json.dumps({"v": 1, "as_of": as_of, "hw": high_water, "offset": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str) -> tuple[float, int, int] | None:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = decode_json(raw)
        return float(data["as_of"]), int(data["hw"]), int(data["offset"])
    except (binascii.Error, ValueError, KeyError, TypeError, OverflowError):  # int(inf) overflows
        return None


def search(payload: dict[str, Any], state: SandboxState, clock: SandboxClock) -> Response:
    """``POST /activity/search``: check the paging window, the dates and the filters (in that
    order, so the first bad field is the one reported), then order and page the matches."""
    now = clock.now()
    window = _window(payload, state, now)
    if isinstance(window, Response):
        return window
    matcher = _matcher(payload, window, now)
    if isinstance(matcher, Response):
        return matcher
    keep, filters = matcher
    if filters.get("subaccounts"):
        return _page([], **vars(window), payload=payload, filters=filters)  # no subaccounts here: no match
    matches = [ev for ev in state.stored_events() if keep(ev)]
    if payload.get("only_latest_by_sent") is True:
        matches = _latest_per_email(matches)
        matches.sort(key=lambda e: (e.message.send_time, e.message.email_id), reverse=True)
    elif payload.get("only_latest") is True:
        matches = _latest_per_email(matches)
        matches.sort(key=lambda e: (e.ts, e.seq), reverse=True)
    else:
        matches.reverse()  # stored oldest first; the API lists newest first
    return _page(matches, **vars(window), payload=payload, filters=filters)


@dataclass(frozen=True)
class _Window:
    """Which page of which snapshot: a ``continue_token`` pins ``as_of`` and ``high_water``.

    Its fields are ``_page``'s paging keywords (passed as ``**vars(window)``).
    """

    limit: int
    as_of: float
    high_water: int
    offset: int


def _window(payload: dict[str, Any], state: SandboxState, now: datetime) -> _Window | Response:
    limit = payload.get("limit", DEFAULT_LIMIT)
    if limit is None:
        limit = DEFAULT_LIMIT
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1 or limit > MAX_LIMIT:
        return validation_error("limit", f"The field 'limit' must be an integer between 1 and {MAX_LIMIT}.")
    token = payload.get("continue_token")
    if not token:
        return _Window(limit, now.timestamp(), state.high_water(), 0)
    decoded = _decode_token(str(token))
    if decoded is None:
        return validation_error("continue_token", "The field 'continue_token' is not a valid token.")
    return _Window(limit, *decoded)


_Matcher = tuple[Callable[[StoredEvent], bool], dict[str, list[str]]]


def _matcher(payload: dict[str, Any], window: _Window, now: datetime) -> _Matcher | Response:
    """Whether an event matches the request's dates and filters (with the list filters as given)."""
    if payload.get("start_date"):
        start = parse_datetime(payload["start_date"])
        if start is None:
            return validation_error("start_date", "The field 'start_date' is not a recognised date.")
    else:
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    end_ts = window.as_of
    end_exclusive = False
    if payload.get("end_date"):
        end = parse_datetime(payload["end_date"])
        if end is None:
            return validation_error("end_date", "The field 'end_date' is not a recognised date.")
        if end.timestamp() <= window.as_of:
            end_ts, end_exclusive = end.timestamp(), True

    filters: dict[str, list[str]] = {}
    for name in ("event_types", "search_usernames", "subaccounts", "custom_headers", "search_email_id"):
        got = _strings(payload, name)
        if isinstance(got, Response):
            return got
        if got is not None:
            filters[name] = got
    event_types = filters.get("event_types")
    if event_types:
        unknown = [t for t in event_types if t not in EVENT_TYPES]
        if unknown:
            return validation_error(
                "event_types", f"Unknown event type {unknown[0]!r}; expected one of {', '.join(EVENT_TYPES)}."
            )
    for name in ("search", "search_subject", "search_sender", "search_recipient"):
        if payload.get(name) is not None and not isinstance(payload[name], str):
            return validation_error(name, f"The field '{name}' was expecting a string.")

    start_ts, high_water = start.timestamp(), window.high_water
    wanted_types = frozenset(event_types) if event_types else None
    usernames = frozenset(filters["search_usernames"]) if filters.get("search_usernames") else None
    email_ids = frozenset(filters["search_email_id"]) if filters.get("search_email_id") else None
    terms = [t.strip().lower() for t in (payload.get("search") or "").split("|") if t.strip()]
    subject_q = (payload.get("search_subject") or "").lower()
    sender_q = (payload.get("search_sender") or "").lower()
    recipient_q = (payload.get("search_recipient") or "").lower()

    def keep(ev: StoredEvent) -> bool:
        if ev.ts < start_ts or ev.ts > end_ts or (end_exclusive and ev.ts >= end_ts) or ev.seq > high_water:
            return False
        m = ev.message
        if wanted_types is not None and ev.event not in wanted_types:
            return False
        if usernames is not None and m.username not in usernames:
            return False
        if email_ids is not None and m.email_id not in email_ids:
            return False
        if subject_q and subject_q not in m.subject.lower():
            return False
        if sender_q and sender_q not in m.sender.lower():
            return False
        if recipient_q and recipient_q not in ev.recipient.lower():
            return False
        if terms:
            haystack = " ".join((m.email_id, m.subject, *m.to, ev.recipient, *m.bcc)).lower()
            if not any(t in haystack for t in terms):
                return False
        return True

    return keep, filters


def _latest_per_email(events: list[StoredEvent]) -> list[StoredEvent]:
    latest: dict[str, StoredEvent] = {}
    for ev in events:  # oldest first, so the last one seen wins
        latest[ev.message.email_id] = ev
    return list(latest.values())


def _page(
    matches: list[StoredEvent],
    *,
    limit: int,
    offset: int,
    as_of: float,
    high_water: int,
    payload: dict[str, Any],
    filters: dict[str, list[str]],
) -> Response:
    page = matches[offset : offset + limit]
    include_headers = payload.get("include_headers") is True
    names = filters.get("custom_headers", [])
    events = [render_event(ev, include_headers=include_headers, custom_headers=names) for ev in page]
    next_offset = offset + len(page)
    token = _encode_token(as_of, high_water, next_offset) if next_offset < len(matches) else None
    return success({"events": events, "total_events": len(matches), "continue_token": token})
