"""Run, drive and inspect a sandbox: the :class:`Smtp2goSandbox` Python API and ``/_sandbox/*``.

Everything a test needs to prove "nothing lost, nothing sent twice": the messages received
(parsed), how many times each logical message arrived, events, request counts per endpoint
and per key, plus fault injection, keys, templates, suppressions, the clock and reset.

The same operations are available over HTTP (JSON, no API key, but the header
``X-Smtp2go-Sandbox: 1`` on every request) under ``/_sandbox/``; ``GET /_sandbox/`` lists the
routes, and :mod:`~airflow_provider_smtp2go.sandbox.control_routes` defines them.

Example::

    with Smtp2goSandbox() as sb:
        requests.post(f"{sb.base_url}/email/send", headers={"X-Smtp2go-Api-Key": sb.api_key},
                      json={"sender": "ops@example.com", "to": ["x+open-30s@example.com"],
                            "subject": "Hi", "text_body": "Hello"})
        sb.clock.advance(30)          # now the open is visible in /activity/search
        assert sb.duplicates() == {}
"""

from __future__ import annotations

import secrets
import string
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from airflow_provider_smtp2go.sandbox import control_routes
from airflow_provider_smtp2go.sandbox.activity import render_event
from airflow_provider_smtp2go.sandbox.api import DEFAULT_MAX_SIZE_BYTES, SandboxApi
from airflow_provider_smtp2go.sandbox.clock import SandboxClock
from airflow_provider_smtp2go.sandbox.faults import ActivityLimiter, Fault, FaultPlan
from airflow_provider_smtp2go.sandbox.server import DEFAULT_CONNECTION_TIMEOUT, SandboxHTTPServer, is_loopback
from airflow_provider_smtp2go.sandbox.state import (
    DEFAULT_IDEMPOTENCY_HEADERS,
    ReceivedMessage,
    SandboxState,
    Suppression,
    Template,
)
from airflow_provider_smtp2go.sandbox.webhook_config import DEFAULT_MAX_WEBHOOKS, WebhookRegistry
from airflow_provider_smtp2go.sandbox.webhooks import DEFAULT_TIMEOUT as DEFAULT_WEBHOOK_TIMEOUT
from airflow_provider_smtp2go.sandbox.webhooks import RETRY_SCHEDULE, WebhookDeliverer
from airflow_provider_smtp2go.sandbox.wire import Response

_KEY_ALPHABET = string.ascii_letters + string.digits


def generate_api_key() -> str:
    """A fresh key in SMTP2GO's format (``api-`` + 32 alphanumerics), made at runtime."""
    return "api-" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(32))


class Smtp2goSandbox:
    """A local SMTP2GO: an HTTP server speaking the v3 API, plus inspection and control.

    Use it as a context manager or call :meth:`start`/:meth:`stop`.  ``port=0`` picks a free
    port.  A connection that sends nothing for ``connection_timeout`` seconds (default 30) is
    closed, so idle keep-alive clients cannot pin a thread each forever.  It binds loopback
    only unless ``allow_non_loopback=True`` (it accepts any caller's mail and has a well-known
    key, so exposing it is a choice to make explicitly).

    Webhooks registered through ``/webhook/add`` (at most ``max_webhooks``, default 1 as on
    free plans) are POSTed by :attr:`webhooks` (a
    :class:`~airflow_provider_smtp2go.sandbox.webhooks.WebhookDeliverer`: its deliveries,
    attempts and faults); ``webhook_timeout`` and ``webhook_retry_schedule`` tune delivery.

    Example::

        with Smtp2goSandbox() as sb:
            sb.inject_fault("email/send", status=503, count=2)
            ...  # call sb.base_url with sb.api_key
            assert sb.request_count("email/send") == 3
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str | None = None,
        clock: SandboxClock | None = None,
        max_messages: int = 100_000,
        enforce_activity_limit: bool = False,
        activity_limit_per_minute: int = 60,
        max_size_bytes: int = DEFAULT_MAX_SIZE_BYTES,
        allow_non_loopback: bool = False,
        idempotency_headers: Iterable[str] = DEFAULT_IDEMPOTENCY_HEADERS,
        fault_seed: int = 0,
        connection_timeout: float = DEFAULT_CONNECTION_TIMEOUT,
        max_webhooks: int = DEFAULT_MAX_WEBHOOKS,
        webhook_timeout: float = DEFAULT_WEBHOOK_TIMEOUT,
        webhook_retry_schedule: Iterable[float] = RETRY_SCHEDULE,
    ) -> None:
        if not is_loopback(host) and not allow_non_loopback:
            raise ValueError(
                f"Refusing to bind the SMTP2GO sandbox to non-loopback host {host!r}: it accepts mail "
                "from anyone who can reach it. Use 127.0.0.1, or pass allow_non_loopback=True "
                "(--allow-non-loopback on the command line) if you really mean it."
            )
        if isinstance(connection_timeout, bool) or not 0 < connection_timeout < threading.TIMEOUT_MAX:
            raise ValueError(f"connection_timeout must be a positive number of seconds, not {connection_timeout!r}")
        self.host = host
        self.port = port
        self.connection_timeout = float(connection_timeout)
        self.clock = clock or SandboxClock()
        self.state = SandboxState(self.clock, max_messages=max_messages, idempotency_headers=idempotency_headers)
        self.faults = FaultPlan(seed=fault_seed)
        self.activity_limiter = ActivityLimiter(activity_limit_per_minute, 60.0) if enforce_activity_limit else None
        self.max_size_bytes = max_size_bytes
        self.webhook_registry = WebhookRegistry(max_webhooks=max_webhooks)
        self.webhooks = WebhookDeliverer(
            self.webhook_registry,
            self.clock,
            timeout=webhook_timeout,
            retry_schedule=webhook_retry_schedule,
            fault_seed=fault_seed,
        )
        self.state.add_listener(self.webhooks.on_events)
        self.api = SandboxApi(
            self.state,
            max_size_bytes=max_size_bytes,
            activity_limiter=self.activity_limiter,
            webhooks=self.webhook_registry,
        )
        self.senders = self.api.senders
        self.api_key = api_key or generate_api_key()
        self.state.add_key(self.api_key)
        self._server: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> Smtp2goSandbox:
        """Bind and serve in a daemon thread; returns ``self``.  Idempotent."""
        if self._server is not None:
            return self
        server = SandboxHTTPServer(
            (self.host, self.port),
            api=self.api,
            faults=self.faults,
            control=self._control,
            # Room for a max-size email in base64 inside JSON, plus slack.
            max_request_bytes=self.max_size_bytes * 2 + 1024 * 1024,
            connection_timeout=self.connection_timeout,
        )
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="smtp2go-sandbox", daemon=True
        )
        self._thread.start()
        self.webhooks.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection.  Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        self.webhooks.stop()
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def serve_forever(self) -> None:
        """Start (if needed) and block until :meth:`stop` is called from elsewhere."""
        self.start()
        if self._thread is not None:
            self._thread.join()

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._server is not None

    def __enter__(self) -> Smtp2goSandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:  # never shows the key
        state = "running" if self.running else "stopped"
        return f"Smtp2goSandbox({self.host}:{self.port}, {state})"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>`` (valid once started)."""
        if self._server is None:
            raise RuntimeError("The sandbox is not running; call start() or use it as a context manager.")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The API base, ``http://127.0.0.1:<port>/v3``: what a client uses as ``base_url``."""
        return f"{self.url}/v3"

    # -- keys, templates, suppressions ----------------------------------------------------------
    def add_api_key(self, key: str, permissions: Iterable[str] | None = None) -> None:
        """Accept ``key`` too; ``permissions`` limits it to paths like ``"/email/send"``."""
        self.state.add_key(key, permissions)

    def add_template(
        self, template_id: str, subject: str, html_body: str = "", text_body: str = "", name: str | None = None
    ) -> Template:
        """Store a template usable with ``template_id`` (``{{ var }}`` placeholders)."""
        template = Template(template_id, name or template_id, subject, html_body, text_body)
        self.state.add_template(template)
        return template

    def add_sender_domain(self, domain: str, *, verified: bool = True) -> None:
        """List ``domain`` in ``/domain/view`` (``example.com`` is there, verified, from the start)."""
        self.senders.add_domain(domain, verified=verified)

    def add_single_sender(self, address: str, *, verified: bool = True) -> None:
        """List ``address`` in ``/single_sender_emails/view``."""
        self.senders.add_sender(address, verified=verified)

    def add_subaccount(self, name: str, email: str, *, subaccount_id: str | None = None) -> dict[str, Any]:
        """A subaccount ``/subaccounts/search`` finds (ids ``SUB00001``... unless given)."""
        return self.api.subaccounts.add(name, email, subaccount_id=subaccount_id)

    def suppress(self, address: str, reason: str = "manual") -> Suppression:
        """Suppress an address (or a whole domain): sends to it fail."""
        return self.state.suppress(address, reason)

    # -- inspection -----------------------------------------------------------------------------
    def messages(self) -> list[ReceivedMessage]:
        """Messages received (held), oldest first."""
        return self.state.messages()

    def arrivals(self) -> dict[str, int]:
        """Fingerprint of each logical message -> how many times it arrived."""
        return self.state.arrivals()

    def duplicates(self) -> dict[str, int]:
        """Only the logical messages that arrived more than once."""
        return {k: n for k, n in self.state.arrivals().items() if n > 1}

    def events(self, email_id: str | None = None) -> list[dict[str, Any]]:
        """Every event, future-dated ones included, oldest first (all custom headers shown)."""
        return [render_event(ev, custom_headers=None) for ev in self.state.stored_events(email_id)]

    def request_count(self, path: str | None = None, api_key: str | None = None) -> int:
        """Requests received (faulted ones included) for ``path`` and/or ``api_key``."""
        return self.state.request_count(path, api_key)

    # -- faults and reset -----------------------------------------------------------------------
    def inject_fault(
        self,
        path: str = "email/send",
        *,
        status: int | None = 429,
        retry_after: float | str | None = None,
        count: int | None = None,
        rate: float | None = None,
        latency: float = 0.0,
        kind: str | None = None,
        ratelimit_reset: float | None = None,
        bytes_per_second: float | None = None,
    ) -> Fault:
        """Script a failure; see :mod:`~airflow_provider_smtp2go.sandbox.faults`.

        ``count=None`` means once, or unlimited when ``rate`` is given.  ``kind`` defaults to
        ``"status"``.  ``ratelimit_reset`` (seconds from now) adds ``X-RateLimit-Reset`` to a 429.
        ``kind="trickle"`` writes the real answer at ``bytes_per_second``; ``kind="hang"`` never
        answers.

        >>> with Smtp2goSandbox() as sb:
        ...     sb.inject_fault("email/send", kind="trickle", bytes_per_second=20).kind
        ...     sb.inject_fault("activity/search", kind="hang", count=2).remaining
        'trickle'
        2
        """
        if kind is not None and kind != "status" and status == 429:
            status = None  # the default status only belongs to status faults
        return self.faults.add(
            Fault(
                path=path,
                kind=kind,
                status=status,
                retry_after=retry_after,
                ratelimit_reset=ratelimit_reset,
                count=count,
                rate=rate,
                latency=latency,
                bytes_per_second=bytes_per_second,
            )
        )

    def clear_faults(self) -> None:
        """Remove every scripted fault."""
        self.faults.clear()

    def reset(self) -> None:
        """Forget messages, events, counts, suppressions, templates, webhooks and their deliveries,
        faults and rate-limit history; senders go back to ``example.com`` verified.

        API keys and the clock are kept.
        """
        self.state.reset()
        self.faults.clear()
        self.webhook_registry.clear()
        self.webhooks.reset()
        self.senders.reset()
        self.api.subaccounts.clear()
        if self.activity_limiter is not None:
            self.activity_limiter.reset()

    # -- HTTP control routes --------------------------------------------------------------------
    def _control(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> Response:
        return control_routes.handle(self, method, path, query, body)
