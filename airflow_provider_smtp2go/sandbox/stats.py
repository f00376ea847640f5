"""``/stats/*``: numbers computed from the events the sandbox holds.

Counting rule (the sandbox's; SMTP2GO does not publish its own): one "email" is one
recipient's copy, i.e. one ``processed`` event.  Bounce, spam and unsubscribe percentages are
against that count and come back as strings with two decimals (``"12.50"``), like the API.
``email_bounces``, ``email_spam`` and ``email_unsubs`` cover the last 30 days; the cycle is the
current calendar month with a 10,000-email plan.

Example answer of ``/stats/email_bounces``::

    {"emails": 8, "rejects": 0, "softbounces": 1, "hardbounces": 1, "bounce_percent": "25.00"}
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from airflow_provider_smtp2go.sandbox.clock import SandboxClock
from airflow_provider_smtp2go.sandbox.state import SandboxState, StoredEvent
from airflow_provider_smtp2go.sandbox.wire import Response, parse_datetime, success, validation_error

CYCLE_MAX = 10_000
WINDOW = timedelta(days=30)
GROUP_BY = ("email_address", "username", "domain", "subaccount")


def _percent(part: int, whole: int) -> str:
    return f"{(100.0 * part / whole) if whole else 0.0:.2f}"


def _visible(
    state: SandboxState, clock: SandboxClock, start: datetime, end: datetime | None, username: str | None
) -> list[StoredEvent]:
    start_ts = start.timestamp()
    end_ts = (end or clock.now()).timestamp()
    now_ts = clock.timestamp()
    return [
        ev
        for ev in state.stored_events()
        if start_ts <= ev.ts <= now_ts
        and (end is None or ev.ts < end_ts)
        and (username is None or ev.message.username == username)
    ]


def _cycle(clock: SandboxClock, state: SandboxState) -> dict[str, Any]:
    now = clock.now()
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    used = sum(1 for ev in _visible(state, clock, start, end, None) if ev.event == "processed")
    fmt = "%Y-%m-%d %H:%M:%S+00:00"
    return {
        "cycle_start": start.strftime(fmt),
        "cycle_end": end.strftime(fmt),
        "cycle_used": used,
        "cycle_remaining": max(CYCLE_MAX - used, 0),
        "cycle_max": CYCLE_MAX,
    }


def _counts(payload: dict[str, Any], state: SandboxState, clock: SandboxClock) -> Counter[str]:
    username = payload.get("username") if isinstance(payload.get("username"), str) else None
    events = _visible(state, clock, clock.now() - WINDOW, None, username)
    return Counter(ev.event for ev in events)


def handle(path: str, payload: dict[str, Any], state: SandboxState, clock: SandboxClock) -> Response:
    """Answer ``stats/<name>``."""
    name = path.rsplit("/", 1)[-1]
    if name == "email_cycle":
        return success(_cycle(clock, state))
    if name == "email_history":
        return _history(payload, state, clock)
    c = _counts(payload, state, clock)
    emails = c["processed"]
    bounces = c["soft-bounced"] + c["hard-bounced"]
    if name == "email_bounces":
        return success(
            {
                "emails": emails,
                "rejects": c["rejected"],
                "softbounces": c["soft-bounced"],
                "hardbounces": c["hard-bounced"],
                "bounce_percent": _percent(bounces, emails),
            }
        )
    if name == "email_spam":
        return success(
            {
                "emails": emails,
                "rejects": c["rejected"],
                "spams": c["spam"],
                "spam_percent": _percent(c["spam"], emails),
            }
        )
    if name == "email_unsubs":
        return success(
            {
                "emails": emails,
                "rejects": c["rejected"],
                "unsubscribes": c["unsubscribed"],
                "unsubscribe_percent": _percent(c["unsubscribed"], emails),
            }
        )
    # email_summary
    return success(
        {
            **_cycle(clock, state),
            "email_count": emails,
            "spam_emails": c["spam"],
            "spam_rejects": 0,
            "spam_percent": _percent(c["spam"], emails),
            "bounce_rejects": 0,
            "softbounces": c["soft-bounced"],
            "hardbounces": c["hard-bounced"],
            "bounce_percent": _percent(bounces, emails),
            "unsubscribes": c["unsubscribed"],
            "unsubscribe_percent": _percent(c["unsubscribed"], emails),
            "opens": c["opened"],
            "clicks": c["clicked"],
            "rejects": c["rejected"],
        }
    )


def _history(payload: dict[str, Any], state: SandboxState, clock: SandboxClock) -> Response:
    group_by = payload.get("group_by") or "email_address"
    if group_by not in GROUP_BY:
        return validation_error("group_by", f"The field 'group_by' must be one of {', '.join(GROUP_BY)}.")
    start = clock.now() - WINDOW
    end = None
    for key in ("start_date", "end_date"):
        if payload.get(key):
            parsed = parse_datetime(payload[key])
            if parsed is None:
                return validation_error(key, f"The field '{key}' is not a recognised date.")
            if key == "start_date":
                start = parsed
            else:
                end = parsed
    rows: dict[str, dict[str, Any]] = {}
    field_for = {"opened": "opens", "clicked": "clicks", "rejected": "rejects", "spam": "spam"}
    field_for.update({"unsubscribed": "unsubscribes", "soft-bounced": "bounces", "hard-bounced": "bounces"})
    for ev in _visible(state, clock, start, end, None):
        m = ev.message
        group = {
            "email_address": m.sender_address,
            "username": m.username,
            "domain": m.sender_address.rsplit("@", 1)[-1],
            "subaccount": "Master account",
        }[group_by]
        row = rows.setdefault(
            group,
            {
                "used": 0,
                "bytecount": 0,
                "avgsize": 0,
                group_by: group,
                "lastip": "127.0.0.1",
                "bounces": 0,
                "clicks": 0,
                "opens": 0,
                "rejects": 0,
                "spam": 0,
                "unsubscribes": 0,
            },
        )
        if ev.event == "processed":
            row["used"] += 1
            row["bytecount"] += m.size_bytes
            row["avgsize"] = row["bytecount"] // row["used"]
        elif ev.event in field_for:
            row[field_for[ev.event]] += 1
    history = sorted(rows.values(), key=lambda r: (-r["used"], str(r[group_by])))
    return success({"count": len(history), "history": history})
