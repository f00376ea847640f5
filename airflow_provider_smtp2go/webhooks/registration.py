"""Registering the account's one webhook idempotently: view, then edit or add (never add twice).

``/webhook/add`` is not idempotent and plans allow few webhooks (1 on free plans), so
:func:`ensure_webhook` finds the webhook by URL first, and after an add that got no usable
answer (a 5xx, a timeout after the request left) it views again before deciding: the webhook
it finds is the one the ambiguous add created; only when the view shows none does it add
again (at most :data:`MAX_ADDS` adds in all).

The wanted state is a :class:`WebhookSpec`.  Whether ``/webhook/edit`` keeps fields it is not
given is UNVERIFIED, so an edit sends every field.  The auth value is compared only when the
view answer echoes it (OpenAPI 3.0.4 does, 3.0.3 does not): where SMTP2GO does not echo it, a
rotated secret is not detected and ``force_update`` pushes it (UNVERIFIED which SMTP2GO does).

The result is XCom-sized and never holds the secret::

    >>> spec = WebhookSpec("https://airflow.example.com/smtp2go/webhooks/", events=("bounce",))
    >>> changed_fields({"url": spec.url, "events": ["bounce"], "output_format": "form"}, spec)
    []
    >>> changed_fields({"url": spec.url, "events": ["bounce", "open"]}, spec)
    ['events']
    >>> spec                                        # the secret never shows
    WebhookSpec(url='https://airflow.example.com/smtp2go/webhooks/', events=('bounce',), ...)
"""

from __future__ import annotations

import base64
import hmac
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_smtp2go.client.endpoints import WEBHOOK_FIELDS

if TYPE_CHECKING:
    from airflow_provider_smtp2go.client import Smtp2goClient
    from airflow_provider_smtp2go.webhooks.auth import WebhookSecret

MAX_ADDS = 2
"""Adds per call: the first, and one more only after a view proved the first created nothing."""
log = logging.getLogger(__name__)


def header_value(secret: WebhookSecret) -> str:
    """The ``auth_header_value`` SMTP2GO must send for ``secret`` (basic: base64 of ``user:pass``).

    >>> from airflow_provider_smtp2go.webhooks.auth import WebhookSecret
    >>> header_value(WebhookSecret("basic", b"smtp2go:s3cret")), header_value(WebhookSecret("bearer", b"t0ken"))
    ('c210cDJnbzpzM2NyZXQ=', 't0ken')
    """
    if secret.scheme == "basic":
        return base64.b64encode(secret.secret).decode("ascii")
    return secret.secret.decode("utf-8")


@dataclass(frozen=True)
class WebhookSpec:
    """The webhook as it should be; ``auth_header_value`` never shows in ``repr``."""

    url: str
    events: tuple[str, ...] = ()
    sms_events: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    usernames: tuple[str, ...] = ()
    output_format: str = "form"
    auth_header_type: str | None = None
    auth_header_value: str | None = field(default=None, repr=False)
    subaccount_id: str | None = None

    def __repr__(self) -> str:
        return f"WebhookSpec(url={self.url!r}, events={self.events!r}, ...)"

    @classmethod
    def create(
        cls,
        url: str,
        events: Iterable[str],
        *,
        secret: WebhookSecret | None = None,
        sms_events: Iterable[str] = (),
        headers: Iterable[str] = (),
        usernames: Iterable[str] = (),
        output_format: str = "form",
        subaccount_id: str | None = None,
    ) -> WebhookSpec:
        """A spec from plain arguments (a single string counts as one item)."""

        def items(values: Iterable[str]) -> tuple[str, ...]:
            return (values,) if isinstance(values, str) else tuple(values)

        return cls(
            url=url.strip(),
            events=items(events),
            sms_events=items(sms_events),
            headers=items(headers),
            usernames=items(usernames),
            output_format=output_format,
            auth_header_type=None if secret is None else secret.scheme,
            auth_header_value=None if secret is None else header_value(secret),
            subaccount_id=subaccount_id,
        )

    def fields(self) -> dict[str, Any]:
        """Keyword arguments for the client's ``add_webhook``/``edit_webhook`` (every field)."""
        values = {name: getattr(self, name) for name in WEBHOOK_FIELDS}
        return {name: list(value) if isinstance(value, tuple) else value for name, value in values.items()}


def changed_fields(existing: dict[str, Any], spec: WebhookSpec) -> list[str]:
    """The fields of ``existing`` (a ``/webhook/view`` item) that differ from ``spec``.

    Lists compare as sets (SMTP2GO may reorder them); a field the answer leaves out counts
    as unchanged, since nothing can be compared (the auth value on pre-3.0.4 answers).
    """
    changed: list[str] = []
    for name in ("events", "sms_events", "headers", "usernames"):
        if name in existing and _as_set(existing[name]) != set(getattr(spec, name)):
            changed.append(name)
    if "output_format" in existing and (existing["output_format"] or "form") != spec.output_format:
        changed.append("output_format")
    if "auth_header_type" in existing and (existing["auth_header_type"] or None) != spec.auth_header_type:
        changed.append("auth_header_type")
    if "auth_header_value" in existing:
        given = str(existing["auth_header_value"] or "").encode()
        if not hmac.compare_digest(given, (spec.auth_header_value or "").encode()):
            changed.append("auth_header_value")
    return changed


def _as_set(value: Any) -> set[str]:
    if value is None or value == "":
        return set()
    return {value} if isinstance(value, str) else {str(v) for v in value}


def find_webhook(client: Smtp2goClient, spec: WebhookSpec) -> dict[str, Any] | None:
    """The registered webhook whose URL is ``spec.url`` (the lowest id if there are several)."""
    matches = [w for w in client.view_webhooks(subaccount_id=spec.subaccount_id) if w.get("url") == spec.url]
    if len(matches) > 1:
        log.warning(
            "SMTP2GO has %d webhooks for %s (ids %s); using the oldest, remove the others",
            len(matches),
            spec.url,
            sorted(int(w.get("id") or 0) for w in matches),
        )
    return min(matches, key=lambda w: int(w.get("id") or 0)) if matches else None


def ensure_webhook(client: Smtp2goClient, spec: WebhookSpec, *, force_update: bool = False) -> dict[str, Any]:
    """Make the account's webhook for ``spec.url`` match ``spec``; return ``{id, action, url}``.

    ``action`` is ``created``, ``updated`` or ``unchanged``.  ``force_update`` edits even when
    nothing visible differs (to push a rotated secret SMTP2GO does not echo).
    """
    existing = find_webhook(client, spec)
    if existing is not None:
        changed = changed_fields(existing, spec)
        if not changed and not force_update:
            return _result(existing, "unchanged", spec)
        log.info("SMTP2GO webhook %s differs in %s; editing it", existing.get("id"), ", ".join(changed) or "nothing")
        client.edit_webhook(int(existing["id"]), url=spec.url, **spec.fields())
        return _result(existing, "updated", spec)
    return _result(_add_once(client, spec), "created", spec)


def _add_once(client: Smtp2goClient, spec: WebhookSpec) -> dict[str, Any]:
    from airflow_provider_smtp2go.client import Smtp2goAmbiguousSendError, Smtp2goServerError  # noqa: PLC0415

    for attempt in range(1, MAX_ADDS + 1):
        try:
            return client.add_webhook(spec.url, **spec.fields())
        except (Smtp2goAmbiguousSendError, Smtp2goServerError) as exc:
            log.warning("SMTP2GO webhook/add got no usable answer (%s); viewing before deciding", type(exc).__name__)
            created = find_webhook(client, spec)
            if created is not None:
                return created
            if attempt == MAX_ADDS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _result(webhook: dict[str, Any], action: str, spec: WebhookSpec) -> dict[str, Any]:
    return {"id": webhook.get("id"), "action": action, "url": spec.url}
