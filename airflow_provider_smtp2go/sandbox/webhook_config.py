"""The webhooks an account has registered, and ``/webhook/view|add|edit|remove`` that manage them.

Shapes follow SMTP2GO's OpenAPI 3.0.4 (see ``shared/reference/webhooks.md`` §6):

* every answer is ``{"request_id", "data"}``; ``data`` is one webhook
  ``{id, url, events, sms_events, headers, usernames, output_format, auth_header_type,
  auth_header_value}``, except ``/webhook/view``, whose ``data`` is a **list** of them (the
  spec shows one object, live tests of a third-party client saw a list: UNVERIFIED, the
  sandbox answers the list and clients should accept both);
* ``id`` is an integer; ``output_format`` is ``form`` (default) or ``json``;
  ``auth_header_type`` is ``bearer``, ``basic`` or ``""``;
* ``headers`` and ``usernames`` may be sent as a string (the spec's own examples do) and are
  stored as one-item lists;
* ``/webhook/view`` does not insist on ``url`` although the spec marks it required;
* ``/webhook/edit`` keeps the fields it is not given (the real behaviour is UNVERIFIED);
* unknown event names are kept but never fire (SMTP2GO is said to ignore them: UNVERIFIED);
* ``subaccount_id`` scopes a webhook: ``view`` lists only the webhooks of the scope asked for,
  and since the sandbox's mail all belongs to the master account, a subaccount's webhook never
  fires;
* the plan limit is ``max_webhooks`` (1, as on free plans, unless configured; paid plans allow
  10).  The error SMTP2GO gives past the limit is UNVERIFIED; the sandbox answers 400 with
  ``error_code`` :data:`WEBHOOK_LIMIT_REACHED`.

Example::

    >>> registry = WebhookRegistry(max_webhooks=1)
    >>> hook = registry.add({"url": "http://127.0.0.1:9/hook", "events": ["bounce"]})
    >>> hook.output_format, hook.events
    ('form', ['bounce'])
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_smtp2go.sandbox.wire import Response, error, success, validation_error

EMAIL_EVENTS = ("delivered", "unsubscribe", "spam", "bounce", "processed", "reject", "click", "open")
"""Subscription names for email events (the ``events`` field)."""
SMS_EVENTS = ("delivered", "failed", "rejected", "sending", "submitted")
OUTPUT_FORMATS = ("form", "json")
AUTH_HEADER_TYPES = ("", "bearer", "basic")
DEFAULT_MAX_WEBHOOKS = 1
FIRST_WEBHOOK_ID = 4317  # the spec example's id: ids look real, and never start at 0 or 1

WEBHOOK_LIMIT_REACHED = "E_ApiResponseCodes.WEBHOOK_LIMIT_REACHED"
"""The sandbox's error code past the plan limit (SMTP2GO's own is UNVERIFIED)."""
WEBHOOK_NOT_FOUND = "E_ApiResponseCodes.WEBHOOK_NOT_FOUND"

_LIST_FIELDS = ("events", "sms_events", "headers", "usernames")
_TEXT_FIELDS = ("url", "output_format", "auth_header_type", "auth_header_value", "subaccount_id")


@dataclass(frozen=True)
class Webhook:
    """One registered webhook; ``auth_header_value`` never shows in ``repr``."""

    id: int
    url: str
    events: list[str] = field(default_factory=list)
    sms_events: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    usernames: list[str] = field(default_factory=list)
    output_format: str = "form"
    auth_header_type: str = ""
    auth_header_value: str = field(default="", repr=False)
    subaccount_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The ``data`` shape of the /webhook/* answers (3.0.4 echoes the auth fields too)."""
        return {
            "id": self.id,
            "url": self.url,
            "events": list(self.events),
            "sms_events": list(self.sms_events),
            "headers": list(self.headers),
            "usernames": list(self.usernames),
            "output_format": self.output_format,
            "auth_header_type": self.auth_header_type,
            "auth_header_value": self.auth_header_value,
        }

    def wants(self, subscription: str, username: str) -> bool:
        """True when an email event of ``subscription`` (``"bounce"``...) sent by ``username`` fires here."""
        if self.subaccount_id is not None:
            return False  # the sandbox's mail all belongs to the master account
        if self.usernames and username not in self.usernames:
            return False
        return subscription in self.events


class WebhookConfigError(ValueError):
    """A /webhook/* request the sandbox refuses; ``response`` is the answer to give."""

    def __init__(self, response: Response) -> None:
        super().__init__("webhook request refused")
        self.response = response


def is_http_url(url: str) -> bool:
    """True for an ``http(s)://host[:port]/...`` URL the sandbox could post to (ASCII, one line).

    >>> is_http_url("http://[::1"), is_http_url("http://127.0.0.1:8080/hook")
    (False, True)
    """
    if not url.isascii() or any(c in url for c in "\r\n\t\x00 "):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port out of range)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _fields(payload: dict[str, Any], *, require_url: bool) -> dict[str, Any]:
    """The webhook fields present in ``payload``, checked; raises ``WebhookConfigError``."""
    out: dict[str, Any] = {}
    for name in _LIST_FIELDS:
        if name not in payload or payload[name] is None:
            continue
        value = payload[name]
        if isinstance(value, str):
            value = [value] if value else []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise WebhookConfigError(validation_error(name, f"The field '{name}' was expecting an array of strings."))
        out[name] = list(value)
    for name in _TEXT_FIELDS:
        if name not in payload or payload[name] is None:
            continue
        if not isinstance(payload[name], str):
            raise WebhookConfigError(validation_error(name, f"The field '{name}' was expecting a string."))
        out[name] = payload[name]
    if require_url and not out.get("url"):
        raise WebhookConfigError(validation_error("url", "The field 'url' is required."))
    if "url" in out and not is_http_url(out["url"]):
        raise WebhookConfigError(validation_error("url", "The field 'url' must be an http(s) URL."))
    if out.get("output_format", "form") not in OUTPUT_FORMATS:
        raise WebhookConfigError(validation_error("output_format", "The field 'output_format' must be form or json."))
    if out.get("auth_header_type", "") not in AUTH_HEADER_TYPES:
        raise WebhookConfigError(
            validation_error("auth_header_type", "The field 'auth_header_type' must be bearer, basic or empty.")
        )
    if any(c in out.get("auth_header_value", "") for c in "\r\n"):
        raise WebhookConfigError(validation_error("auth_header_value", "The header value must be one line."))
    return out


def _webhook_id(payload: dict[str, Any]) -> int:
    value = payload.get("id")
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise WebhookConfigError(validation_error("id", "The field 'id' is required (an integer)."))
    return value


class WebhookRegistry:
    """The registered webhooks of the sandbox's account, guarded by one lock."""

    def __init__(self, *, max_webhooks: int = DEFAULT_MAX_WEBHOOKS) -> None:
        if isinstance(max_webhooks, bool) or not isinstance(max_webhooks, int) or max_webhooks < 0:
            raise ValueError(f"max_webhooks must be a whole number >= 0, not {max_webhooks!r}")
        self.max_webhooks = max_webhooks
        self._lock = threading.Lock()
        self._ids = itertools.count(FIRST_WEBHOOK_ID)
        self._hooks: dict[int, Webhook] = {}

    def add(self, payload: dict[str, Any]) -> Webhook:
        """Register a webhook from an ``/webhook/add`` body; ``WebhookConfigError`` if refused."""
        fields = _fields(payload, require_url=True)
        scope = fields.pop("subaccount_id", None) or None
        with self._lock:
            in_scope = [h for h in self._hooks.values() if h.subaccount_id == scope]
            if len(in_scope) >= self.max_webhooks:
                raise WebhookConfigError(
                    error(
                        400,
                        f"You have reached your plan's limit of {self.max_webhooks} webhook(s).",
                        WEBHOOK_LIMIT_REACHED,
                    )
                )
            hook = Webhook(id=next(self._ids), subaccount_id=scope, **fields)
            self._hooks[hook.id] = hook
        return hook

    def edit(self, payload: dict[str, Any]) -> Webhook:
        """Change the fields an ``/webhook/edit`` body names; the others are kept."""
        webhook_id = _webhook_id(payload)
        fields = _fields(payload, require_url=False)
        scope = fields.pop("subaccount_id", None) or None
        with self._lock:
            current = self._find(webhook_id, scope)
            hook = replace(current, **fields)
            self._hooks[webhook_id] = hook
        return hook

    def remove(self, payload: dict[str, Any]) -> Webhook:
        """Forget a webhook; the answer echoes its last configuration."""
        webhook_id = _webhook_id(payload)
        scope = payload.get("subaccount_id") or None
        with self._lock:
            hook = self._find(webhook_id, scope)
            del self._hooks[webhook_id]
        return hook

    def view(self, subaccount_id: str | None = None) -> list[Webhook]:
        """The webhooks of one scope (the master account by default), oldest first."""
        with self._lock:
            return [h for h in self._hooks.values() if h.subaccount_id == (subaccount_id or None)]

    def all(self) -> list[Webhook]:
        """Every webhook, whatever its scope."""
        with self._lock:
            return list(self._hooks.values())

    def get(self, webhook_id: int) -> Webhook | None:
        """One webhook by id (its current configuration)."""
        with self._lock:
            return self._hooks.get(webhook_id)

    def clear(self) -> None:
        """Forget every webhook (ids keep counting, as a real account's would)."""
        with self._lock:
            self._hooks.clear()

    def _find(self, webhook_id: int, scope: str | None) -> Webhook:
        hook = self._hooks.get(webhook_id)
        if hook is None or hook.subaccount_id != scope:
            raise WebhookConfigError(error(400, f"The webhook {webhook_id} does not exist.", WEBHOOK_NOT_FOUND))
        return hook


def handle(path: str, payload: dict[str, Any], registry: WebhookRegistry) -> Response:
    """Answer ``webhook/view|add|edit|remove`` (``path`` without ``/v3/``)."""
    try:
        if path == "webhook/view":
            scope = payload.get("subaccount_id")
            if scope is not None and not isinstance(scope, str):
                return validation_error("subaccount_id", "The field 'subaccount_id' was expecting a string.")
            return success([h.to_dict() for h in registry.view(scope)])
        if path == "webhook/add":
            return success(registry.add(payload).to_dict())
        if path == "webhook/edit":
            return success(registry.edit(payload).to_dict())
        return success(registry.remove(payload).to_dict())
    except WebhookConfigError as exc:
        return exc.response
