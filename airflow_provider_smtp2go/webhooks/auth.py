"""Is this post from our SMTP2GO webhook?  The Authorization header against a connection's secret.

SMTP2GO does not sign callbacks; a webhook can carry ``Authorization: Bearer <token>`` or
``Authorization: Basic <base64(user:pass)>`` (``auth_header_type``/``auth_header_value`` on
``/webhook/add``).  The receiver compares that header, in constant time
(:func:`hmac.compare_digest`), with the secret in an Airflow connection:

* connection id ``smtp2go_webhook`` for the ``default`` account, ``smtp2go_webhook_<account>``
  for others (any connection type; ``smtp2go`` or ``generic`` both work);
* **bearer** (the default): the token is the connection's *Password*;
* **basic**: when the connection has a *Login*, or its extra says
  ``{"auth_header_type": "basic"}``: the credentials are *Login*:*Password*.

A missing connection, a missing or malformed header, the wrong scheme or the wrong secret
all fail the same way.  The secret is never logged, and never part of an exception or a
``repr``.  Secrets are cached per process for :data:`SECRET_TTL` seconds, so a rotated
secret takes effect within that time without a restart (and a burst of posts costs one
connection lookup).

Example::

    >>> secret = WebhookSecret("bearer", b"t0ken")
    >>> secret.accepts("Bearer t0ken"), secret.accepts("Bearer t0ke"), secret.accepts(None)
    (True, False, False)
    >>> secret
    WebhookSecret(scheme='bearer', secret=<redacted>)
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import threading
import time
from dataclasses import dataclass, field

from airflow_provider_smtp2go.webhooks.assets import DEFAULT_ACCOUNT, check_account

CONN_ID = "smtp2go_webhook"
SECRET_TTL = 30.0
log = logging.getLogger(__name__)


def conn_id_for(account: str) -> str:
    """The connection holding ``account``'s webhook secret.

    >>> conn_id_for("default"), conn_id_for("marketing")
    ('smtp2go_webhook', 'smtp2go_webhook_marketing')
    """
    return CONN_ID if check_account(account) == DEFAULT_ACCOUNT else f"{CONN_ID}_{account}"


@dataclass(frozen=True)
class WebhookSecret:
    """The expected credentials: ``scheme`` is ``bearer`` or ``basic``; ``secret`` the token or ``user:pass``."""

    scheme: str
    secret: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"WebhookSecret(scheme={self.scheme!r}, secret=<redacted>)"

    def accepts(self, authorization: str | None) -> bool:
        """True when ``authorization`` (the raw header) carries exactly this secret."""
        if not authorization or not self.secret:
            return False
        scheme, _, credentials = authorization.strip().partition(" ")
        credentials = credentials.strip()
        if scheme.lower() != self.scheme:
            return False
        if self.scheme == "basic":
            try:
                given = base64.b64decode(credentials.encode("ascii"), validate=True)
            except (binascii.Error, UnicodeEncodeError):
                return False
        else:
            try:
                given = credentials.encode("ascii")
            except UnicodeEncodeError:
                return False
        return hmac.compare_digest(given, self.secret)


def secret_from_connection(login: str | None, password: str | None, extra: dict[str, object]) -> WebhookSecret | None:
    """The secret a connection describes, or ``None`` when it holds none."""
    if not password:
        return None
    wanted = str(extra.get("auth_header_type") or ("basic" if login else "bearer")).lower()
    if wanted == "basic":
        return WebhookSecret("basic", f"{login or ''}:{password}".encode())
    return WebhookSecret("bearer", password.encode("utf-8"))


class SecretCache:
    """Connection lookups, cached for ``ttl`` seconds per account (misses too, briefly)."""

    def __init__(self, ttl: float = SECRET_TTL) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, WebhookSecret | None]] = {}

    def get(self, account: str) -> WebhookSecret | None:
        """The secret of ``account``, or ``None`` when its connection is missing or empty."""
        fresh, secret = self.peek(account)
        if fresh:
            return secret
        now = time.monotonic()
        secret = self._load(account)
        with self._lock:
            self._cache[account] = (now, secret)
        return secret

    def peek(self, account: str) -> tuple[bool, WebhookSecret | None]:
        """``(True, secret)`` when a fresh entry is cached, else ``(False, None)``; never looks anything up.

        The receiver asks this first on the event loop and only hands a miss to a thread (a
        connection lookup may block on the secrets backend or the DB).

        >>> SecretCache().peek("default")
        (False, None)
        """
        with self._lock:
            hit = self._cache.get(account)
        if hit is not None and time.monotonic() - hit[0] < self.ttl:
            return True, hit[1]
        return False, None

    def clear(self) -> None:
        """Forget every cached secret (tests, rotation)."""
        with self._lock:
            self._cache.clear()

    @staticmethod
    def _load(account: str) -> WebhookSecret | None:
        from airflow_provider_smtp2go._compat import BaseHook  # noqa: PLC0415  (the api-server has Airflow)

        conn_id = conn_id_for(account)
        try:
            conn = BaseHook.get_connection(conn_id)
        except Exception as exc:  # Airflow raises its own "not found" classes, which differ per version
            log.warning("SMTP2GO webhook: no usable connection %r (%s); posts are refused", conn_id, type(exc).__name__)
            return None
        secret = secret_from_connection(conn.login, conn.password, dict(conn.extra_dejson or {}))
        if secret is None:
            log.warning("SMTP2GO webhook: connection %r has no password; posts are refused", conn_id)
        return secret
