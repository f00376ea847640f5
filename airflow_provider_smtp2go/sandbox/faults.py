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
and the body of ``POST /_sandbox/faults``):

``path``              endpoint (``"email/send"``, ``"/v3/activity/search"``) or ``"*"``
``kind``              one of the kinds above (default ``status``, or ``latency`` with no status)
``status``            HTTP status of a ``status`` fault, 200..599
``retry_after``       a 429's (or other status's) ``Retry-After``: a number of seconds, sent as
                      given even when absurd (``inf``, ``nan``, ``-5``, ``1e308``), or a string
                      sent verbatim (an HTTP-date, ``"soon"``): clients must survive all of them
``ratelimit_reset``   a 429's ``X-RateLimit-Reset``, in finite seconds from now
``count``, ``rate``   how often it fires (see above)
``latency``           seconds to wait first, 0..86400
``bytes_per_second``  a ``trickle``'s speed, at least 0.01

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
import math
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

MAX_WAIT = 86_400.0
"""Longest ``latency`` in seconds (longer waits cannot be scheduled; use ``hang``)."""
MIN_BYTES_PER_SECOND = 0.01
"""Slowest ``trickle``: one byte every 100 s."""

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
    retry_after: float | str | None = None
    ratelimit_reset: float | None = None
    count: int | None = None
    rate: float | None = None
    latency: float = 0.0
    bytes_per_second: float | None = None
    id: int = 0
    fired: int = 0
    remaining: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._check_types()
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
        if not 0 <= self.latency <= MAX_WAIT:
            raise ValueError(f"latency must be between 0 and {MAX_WAIT:g} seconds (a 'hang' waits forever)")
        if self.kind == "trickle":
            if self.bytes_per_second is None or self.bytes_per_second < MIN_BYTES_PER_SECOND:
                raise ValueError(f"a 'trickle' fault needs bytes_per_second >= {MIN_BYTES_PER_SECOND}")
        elif self.bytes_per_second is not None:
            raise ValueError("bytes_per_second only applies to kind='trickle'")
        self.path = "*" if self.path.strip() == "*" else normalize_path(self.path)
        self.remaining = self.count if self.count is not None else (1 if self.rate is None else None)

    def _check_types(self) -> None:
        # The control API passes JSON straight in: a wrong type must be a clear error now, not a
        # crash when the fault fires.
        if not isinstance(self.path, str):
            raise TypeError("path must be a string such as 'email/send' or '*'")
        if self.kind is not None and not isinstance(self.kind, str):
            raise TypeError("kind must be a string")
        if self.status is not None and (not _is_int(self.status) or not 200 <= self.status <= 599):
            raise ValueError("status must be an HTTP status code between 200 and 599")
        if self.count is not None and not _is_int(self.count):
            raise TypeError("count must be an integer")
        for name in ("rate", "latency", "bytes_per_second", "ratelimit_reset"):
            value = getattr(self, name)
            if value is not None and not _is_finite(value):
                raise ValueError(f"{name} must be a finite number")
        if self.latency is None:
            raise TypeError("latency must be a number")
        if isinstance(self.retry_after, str):
            if not self.retry_after.isascii() or not self.retry_after.isprintable():
                raise ValueError("retry_after, as a string, must be printable ASCII (it is sent as a header)")
        elif self.retry_after is not None and not _is_number(self.retry_after):
            raise TypeError("retry_after must be a number of seconds or a string")

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


def _header_number(value: float | str) -> str:
    # Any value on purpose (inf, nan, negative, huge): clients must cope with a garbage Retry-After.
    if isinstance(value, (str, int)):
        return str(value)
    return str(int(value)) if value.is_integer() else f"{value:g}"


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite(value: object) -> bool:
    try:
        return _is_number(value) and math.isfinite(value)  # type: ignore[arg-type]
    except OverflowError:  # an int too large for a float
        return False


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
