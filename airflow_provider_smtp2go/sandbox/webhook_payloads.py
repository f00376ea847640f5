"""What one webhook callback says: SMTP2GO's field set per event, as a form or a JSON body.

Field sets follow ``shared/reference/webhooks.md`` §2 (SMTP2GO's pages plus live captures of a
third-party client); where no source settles a detail the sandbox makes one documented
choice, marked UNVERIFIED:

* every callback: ``event``, ``time`` (``2026-03-24T08:23:19Z``), ``sendtime``
  (``2026-03-24T08:23:19.052765+00:00``: microseconds and ``+00:00``, unlike ``time``),
  ``email_id``, ``id`` (32 hex, new for every callback but the same on each retry of it:
  UNVERIFIED), ``message-id`` and ``Message-Id``, ``subject`` and ``Subject`` (the header
  spelling next to the lowercase field, as live captures show), ``from``, ``from_address``,
  ``from_name``, ``sender``, ``auth`` (the sending key's username);
* ``processed``: ``recipients`` (all of them; a form repeats the key, JSON gives a list) and
  ``srchost``, no ``rcpt``; one callback per email, not per recipient;
* ``delivered``: ``rcpt``, ``host``, ``message`` (the 250 reply), ``context`` (``Unavailable``);
* ``bounce``: ``rcpt``, ``bounce`` (``hard``/``soft``), ``host``, ``message``, ``context``;
* ``reject``: ``rcpt``, ``message`` (the reason);
* ``open`` and ``click``: ``rcpt``, ``user-agent``, ``read-secs``, ``client``,
  ``client-device``, ``client-os``, ``geoip-*``, ``srchost``; ``click`` adds ``url`` (the
  field name is UNVERIFIED);
* ``spam``, ``unsubscribe``, ``resubscribe``: ``rcpt``;
* each header the webhook's ``headers`` names, when the email has it, under the email's
  spelling of the name.

Activity names become webhook names (``hard-bounced`` -> ``bounce`` + ``bounce=hard``,
``opened`` -> ``open``...).  ``resubscribe`` is posted to webhooks subscribed to
``unsubscribe`` (whether it can be subscribed to alone is UNVERIFIED).

Example::

    >>> encode([("event", "processed"), ("recipients", "a@example.com"), ("recipients", "b@example.com")], "form")
    ('application/x-www-form-urlencoded', b'event=processed&recipients=a%40example.com&recipients=b%40example.com')
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from email.utils import parseaddr
from urllib.parse import urlencode

from airflow_provider_smtp2go.sandbox.activity import SANDBOX_HOST, first_link, message_id
from airflow_provider_smtp2go.sandbox.state import StoredEvent
from airflow_provider_smtp2go.sandbox.webhook_config import Webhook
from airflow_provider_smtp2go.sandbox.wire import format_date

Fields = list[tuple[str, str]]
"""A callback body before encoding: ordered (key, value) pairs; a key may repeat."""

WEBHOOK_EVENTS: dict[str, tuple[str, str | None]] = {
    "processed": ("processed", None),
    "delivered": ("delivered", None),
    "hard-bounced": ("bounce", "hard"),
    "soft-bounced": ("bounce", "soft"),
    "rejected": ("reject", None),
    "opened": ("open", None),
    "clicked": ("click", None),
    "spam": ("spam", None),
    "unsubscribed": ("unsubscribe", None),
    "resubscribed": ("resubscribe", None),
}
"""Activity event type -> (webhook ``event`` value, ``bounce`` class)."""

_SUBSCRIPTION = {"resubscribe": "unsubscribe"}
SUBMITTING_IP = "192.0.2.1"  # TEST-NET-1: the "client" that handed the mail to SMTP2GO
OPENER_IP = "198.51.100.7"  # TEST-NET-2: the recipient's device
MX_HOST = f"mx.sandbox.smtp2go.local [{SANDBOX_HOST}]"
_OPEN_FIELDS: Fields = [
    ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) SandboxMail/1.0"),
    ("read-secs", "10"),
    ("client", "Sandbox Mail"),
    ("client-device", "desktop"),
    ("client-os", "Linux"),
    ("geoip-continent", "Oceania"),
    ("geoip-country", "New Zealand"),
    ("geoip-city", "Christchurch"),
    ("srchost", OPENER_IP),
]


def subscription_of(activity_event: str) -> str | None:
    """The ``events`` name a webhook subscribes with to hear ``activity_event`` (``None``: never)."""
    posted = WEBHOOK_EVENTS.get(activity_event)
    if posted is None:
        return None
    return _SUBSCRIPTION.get(posted[0], posted[0])


def render(ev: StoredEvent, hook: Webhook, callback_id: str) -> Fields:
    """The callback ``hook`` receives for ``ev``."""
    m = ev.message
    event, bounce = WEBHOOK_EVENTS[ev.event]
    name, _ = parseaddr(m.sender)
    mid = message_id(m)
    fields: Fields = [
        ("event", event),
        ("time", format_date(datetime.fromtimestamp(ev.ts, tz=timezone.utc))),
        ("sendtime", m.send_time.astimezone(timezone.utc).isoformat(timespec="microseconds")),
        ("email_id", m.email_id),
        ("id", callback_id),
        ("message-id", mid),
        ("Message-Id", mid),
        ("subject", m.subject),
        ("Subject", m.subject),
        ("from", m.sender_address),
        ("from_address", m.sender_address),
        ("from_name", name),
        ("sender", m.sender_address),
        ("auth", m.username),
    ]
    if event == "processed":
        fields += [("recipients", r) for r in m.recipients] + [("srchost", SUBMITTING_IP)]
    else:
        fields.append(("rcpt", ev.recipient))
    if event == "delivered":
        fields += [("host", MX_HOST), ("message", ev.smtp_response), ("context", "Unavailable")]
    elif event == "bounce":
        fields += [
            ("bounce", bounce or ""),
            ("host", MX_HOST),
            ("message", ev.smtp_response),
            ("context", f"RCPT TO:<{ev.recipient}>"),
        ]
    elif event == "reject":
        fields.append(("message", ev.reason))
    elif event in ("open", "click"):
        fields += _OPEN_FIELDS
        if event == "click":
            fields.append(("url", first_link(m.html_body)))
    fields += _echoed_headers(ev, hook)
    return fields


def _echoed_headers(ev: StoredEvent, hook: Webhook) -> Fields:
    m = ev.message
    present = {k.lower(): (k, v) for k, v in m.custom_headers.items()}
    if m.schedule_id:
        present.setdefault("x-smtp2go-schedule-id", ("X-Smtp2go-Schedule-Id", m.schedule_id))
    out: Fields = []
    for wanted in hook.headers:
        key = wanted.strip().lower()
        if key in ("subject", "message-id") or key not in present:
            continue  # sent by default / "the headers must already exist in the emails"
        out.append(present.pop(key))
    return out


def encode(fields: Fields, output_format: str) -> tuple[str, bytes]:
    """``(Content-Type, body)``: a form repeats keys; JSON makes ``recipients`` a list."""
    if output_format == "json":
        data: dict[str, object] = {}
        for key, value in fields:
            if key == "recipients":
                listed = data.setdefault("recipients", [])
                assert isinstance(listed, list)
                listed.append(value)
            else:
                data[key] = value
        return "application/json", json.dumps(data, separators=(",", ":")).encode("utf-8")
    return "application/x-www-form-urlencoded", urlencode(fields).encode("ascii")
