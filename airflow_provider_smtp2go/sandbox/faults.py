"""Scripted failures, per endpoint, by count or by rate — and the optional activity limit.

A :class:`Fault` matches one endpoint path (``"email/send"``) or every path (``"*"``).  It
fires for the next ``count`` matching requests, or with probability ``rate`` (from a seeded
RNG, so runs repeat), or both (rate-limited, at most ``count`` times).  Kinds:

``status``       answer ``status`` (429, 500, 502, 503, 504, ...) with an SMTP2GO-shaped JSON
                 body; a 429 can carry ``Retry-After`` and ``X-RateLimit-Reset``.
``latency``      wait ``latency`` seconds, then process normally.
``drop_before``  close the connection without processing or answering.
``drop_after``   process the request (the email *is* accepted and recorded), then close the
                 connection without answering: the ambiguous send.
``malformed``    200 whose body is not JSON.
``html_502``     a proxy-style HTML 502 page (``Content-Type: text/html``).
``trickle``      process the request normally (a send *is* accepted and recorded), then write
                 the whole answer, status line and headers included, at ``bytes_per_second``
                 (required, > 0).  Each write is small and frequent, so a client's per-read
                 socket timeout never fires; a client that gives up part-way has made an
                 ambiguous send.
``hang``         read the request, record it, never process it and never answer: the
                 connection is held until the client closes it or the sandbox stops.

``latency`` also adds to any other kind (a slow 503).  Waits (``latency``, ``trickle``'s pauses,
``hang``) end as soon as the sandbox stops, so a held connection never delays ``stop()``.

Parameters (all JSON-friendly, the same names in ``Fault(...)``, ``Smtp2goSandbox.inject_fault``
and the body of ``POST /_sandbox/faults``): ``path``, ``kind``, ``status``, ``retry_after``
(seconds), ``ratelimit_reset`` (seconds from now), ``count``, ``rate``, ``latency`` (seconds) and
``bytes_per_second`` (``trickle`` only).

Example::

    >>> plan = FaultPlan(seed=1)
    >>> fault = plan.add(Fault(path="email/send", status=503, count=2))
    >>> plan.take("email/send") is fault, plan.take("/v3/email/send") is fault, plan.take("email/send")
    (True, True, None)
    >>> plan.add(Fault(path="activity/search", kind="trickle", bytes_per_second=50)).kind
    'trickle'
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_smtp2go.sandbox.state import normalize_path
from airflow_provider_smtp2go.sandbox.wire import (
    API_EXCEPTION,
    REQ_LIMIT_EXCEEDED,
    Response,
    error,
)

FAULT_KINDS = frozenset({"status", "latency", "drop_before", "drop_after", "malformed", "html_502", "trickle", "hang"})

_STATUS_MESSAGES = {
    429: "Too many requests: your IP address has been temporarily rate limited. Please back off.",
    500: "An internal error occurred while processing your request.",
    502: "Bad gateway: the upstream service did not answer.",
    503: "The service is temporarily unavailable. Please try again later.",
    504: "Gateway timeout: the upstream service did not answer in time.",
}

MALFORMED_BODY = b'<<sandbox: this is not JSON>> {"request_id": "trunc'

HTML_502_BODY = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


@dataclass
class Fault:
    """One scripted failure.  ``remaining`` counts down; ``fired`` counts up.

    ``count=None`` means once when ``rate`` is None, unlimited when a ``rate`` is given.
    """

    path: str = "email/send"
    kind: str | None = None
    status: int | None = 429
    retry_after: float | None = None
    ratelimit_reset: float | None = None
    count: int | None = None
    rate: float | None = None
    latency: float = 0.0
    bytes_per_second: float | None = None
    id: int = 0
    fired: int = 0
    remaining: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.kind is None:
            self.kind = "latency" if self.status is None and self.latency > 0 else "status"
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if self.kind == "status" and self.status is None:
            raise ValueError("a 'status' fault needs a status code")
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be at least 1")
        if self.latency < 0:
            raise ValueError("latency must not be negative")
        if self.kind == "trickle":
            if self.bytes_per_second is None or not self.bytes_per_second > 0:
                raise ValueError("a 'trickle' fault needs bytes_per_second > 0")
        elif self.bytes_per_second is not None:
            raise ValueError("bytes_per_second only applies to kind='trickle'")
        self.path = "*" if self.path.strip() == "*" else normalize_path(self.path)
        self.remaining = self.count if self.count is not None else (1 if self.rate is None else None)

    @property
    def active(self) -> bool:
        """False once all of its ``count`` firings are spent."""
        return self.remaining is None or self.remaining > 0

    def matches(self, path: str) -> bool:
        """True for its own path, or any path when it is ``"*"``."""
        return self.path in ("*", path)

    def response(self) -> Response:
        """The answer this fault gives (``status``, ``malformed`` and ``html_502`` kinds)."""
        if self.kind == "malformed":
            return Response(200, MALFORMED_BODY)
        if self.kind == "html_502":
            return Response(502, HTML_502_BODY, content_type="text/html")
        status = self.status or 500
        headers: dict[str, str] = {}
        if status == 429:
            code = REQ_LIMIT_EXCEEDED
            if self.retry_after is not None:
                headers["Retry-After"] = _header_number(self.retry_after)
            if self.ratelimit_reset is not None:
                # GitHub-style: the Unix second (real time) at which the limit resets.
                headers["X-RateLimit-Reset"] = str(int(time.time() + self.ratelimit_reset))
                headers["X-RateLimit-Remaining"] = "0"
        else:
            code = API_EXCEPTION
            if self.retry_after is not None:
                headers["Retry-After"] = _header_number(self.retry_after)
        message = _STATUS_MESSAGES.get(status, f"The sandbox was told to answer {status}.")
        return error(status, message, code, headers=headers)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form for the inspection API."""
        return {
            "id": self.id,
            "path": self.path,
            "kind": self.kind,
            "status": self.status,
            "retry_after": self.retry_after,
            "ratelimit_reset": self.ratelimit_reset,
            "count": self.count,
            "rate": self.rate,
            "latency": self.latency,
            "bytes_per_second": self.bytes_per_second,
            "fired": self.fired,
            "remaining": self.remaining,
        }


def _header_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


class FaultPlan:
    """The faults of one sandbox.  The first active matching fault (in order added) fires."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        # A seeded generator (not crypto): fault runs must be repeatable.
        self._rng = random.Random(seed)

    def add(self, fault: Fault) -> Fault:
        """Register ``fault`` and return it (with its id set)."""
        with self._lock:
            fault.id = next(self._ids)
            self._faults.append(fault)
        return fault

    def take(self, path: str) -> Fault | None:
        """The fault firing for this request to ``path``, if any (consumes one firing)."""
        if not self._faults:  # lock-free fast path: the common case is "no faults"
            return None
        path = normalize_path(path)
        with self._lock:
            for fault in self._faults:
                if not fault.active or not fault.matches(path):
                    continue
                if fault.rate is not None and self._rng.random() >= fault.rate:
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                fault.fired += 1
                return fault
            # Spent faults are dropped lazily so the fast path above stays fast.
            self._faults = [f for f in self._faults if f.active]
        return None

    def list(self) -> list[Fault]:
        """Faults still able to fire."""
        with self._lock:
            return [f for f in self._faults if f.active]

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()


class ActivityLimiter:
    """SMTP2GO's ``/activity/search`` budget: ``limit`` requests per rolling ``window`` seconds per key.

    Time comes from the sandbox clock, so a test can advance past the window.
    """

    def __init__(self, limit: int = 60, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._lock = threading.Lock()
        self._hits: dict[str, deque[float]] = {}

    def allow(self, api_key: str, now: float) -> bool:
        """Record one request at ``now`` unless the key has spent its budget."""
        with self._lock:
            hits = self._hits.setdefault(api_key, deque())
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True

    def reset(self) -> None:
        """Forget all recorded requests."""
        with self._lock:
            self._hits.clear()

    def rejection(self) -> Response:
        """The 429 SMTP2GO answers when the budget is spent."""
        return error(
            429,
            f"This endpoint is rate limited to {self.limit} requests every {self.window:g} seconds",
            REQ_LIMIT_EXCEEDED,
        )
