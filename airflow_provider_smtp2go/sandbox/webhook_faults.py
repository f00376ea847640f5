"""Scripted misbehaviour of webhook delivery: the worst cases a receiver must survive.

A :class:`WebhookFault` fires for the next ``count`` matching callbacks (default 1), or with
probability ``rate`` (seeded, so runs repeat), optionally only for one ``event`` (activity or
webhook spelling: ``hard-bounced`` or ``bounce``) or one ``webhook_id``.  Kinds:

``duplicate``     the callback is delivered twice: the copy (same body, same ``id``) is due
                  ``delay`` seconds after the original (default 0).
``delay``         the callback is due ``delay`` seconds (sandbox clock) after its event.
``out_of_order``  the callback is held until a later callback to the same webhook has been
                  attempted, so it arrives after it; it goes out anyway ``delay`` seconds
                  (default 60, sandbox clock) after its due time if nothing overtakes it.
``down``          the receiver is "down" for the next ``count`` delivery *attempts*: each
                  fails as a refused connection without being sent, and is retried on the
                  retry schedule like any failure.

The first three act when a callback is created, ``down`` when an attempt is made.

Example::

    >>> plan = WebhookFaultPlan(seed=1)
    >>> fault = plan.add(WebhookFault("down", count=2))
    >>> [plan.take_attempt("bounce", 4317) is fault for _ in range(3)]
    [True, True, False]
"""

from __future__ import annotations

import builtins
import itertools
import math
import random
import threading
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_smtp2go.sandbox.webhook_payloads import WEBHOOK_EVENTS

WEBHOOK_FAULT_KINDS = ("duplicate", "delay", "out_of_order", "down")
CREATION_KINDS = frozenset({"duplicate", "delay", "out_of_order"})
DEFAULT_HOLD = 60.0
MAX_DELAY = 7 * 86_400.0


@dataclass
class WebhookFault:
    """One scripted delivery fault.  ``remaining`` counts down; ``fired`` counts up."""

    kind: str
    count: int | None = None
    rate: float | None = None
    event: str | None = None
    webhook_id: int | None = None
    delay: float | None = None
    id: int = 0
    fired: int = 0
    remaining: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.kind not in WEBHOOK_FAULT_KINDS:
            raise ValueError(f"unknown webhook fault kind {self.kind!r}; expected one of {list(WEBHOOK_FAULT_KINDS)}")
        if self.count is not None and (isinstance(self.count, bool) or not isinstance(self.count, int)):
            raise TypeError("count must be an integer")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be at least 1")
        if self.rate is not None and (not _is_number(self.rate) or not 0.0 <= self.rate <= 1.0):
            raise ValueError("rate must be a number between 0 and 1")
        if self.delay is not None and (not _is_number(self.delay) or not 0.0 <= self.delay <= MAX_DELAY):
            raise ValueError(f"delay must be a number of seconds between 0 and {MAX_DELAY:g}")
        if self.event is not None:
            if not isinstance(self.event, str):
                raise TypeError("event must be a string such as 'hard-bounced'")
            known = {*WEBHOOK_EVENTS, *(posted for posted, _ in WEBHOOK_EVENTS.values())}
            if self.event not in known:
                raise ValueError(f"unknown event {self.event!r}; expected one of {sorted(known)}")
        if self.webhook_id is not None and (isinstance(self.webhook_id, bool) or not isinstance(self.webhook_id, int)):
            raise TypeError("webhook_id must be an integer")
        self.remaining = self.count if self.count is not None else (1 if self.rate is None else None)

    def matches(self, event: str, webhook_id: int) -> bool:
        """True for a callback of ``event`` (webhook spelling, or activity spelling) to ``webhook_id``."""
        if self.webhook_id is not None and self.webhook_id != webhook_id:
            return False
        if self.event is None:
            return True
        wanted = WEBHOOK_EVENTS.get(self.event)
        if wanted is None:
            return self.event == event
        return wanted[0] == event

    def hold(self) -> float:
        """Seconds this fault adds to a callback's due time."""
        if self.kind == "out_of_order":
            return DEFAULT_HOLD if self.delay is None else self.delay
        return self.delay or 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form for the inspection API."""
        return {
            "id": self.id,
            "kind": self.kind,
            "count": self.count,
            "rate": self.rate,
            "event": self.event,
            "webhook_id": self.webhook_id,
            "delay": self.delay,
            "fired": self.fired,
            "remaining": self.remaining,
        }


class WebhookFaultPlan:
    """The faults waiting to fire, thread-safe."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._faults: list[WebhookFault] = []
        self._ids = itertools.count(1)
        self._random = random.Random(seed)

    def add(self, fault: WebhookFault) -> WebhookFault:
        """Schedule ``fault``; returns it (with its ``id``)."""
        with self._lock:
            fault.id = next(self._ids)
            self._faults.append(fault)
        return fault

    def list(self) -> builtins.list[WebhookFault]:
        """Faults still able to fire."""
        with self._lock:
            return [f for f in self._faults if f.remaining is None or f.remaining > 0]

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def take_creation(self, event: str, webhook_id: int) -> builtins.list[WebhookFault]:
        """The creation-time faults that fire for a new callback (each at most once)."""
        with self._lock:
            return [f for f in self._faults if f.kind in CREATION_KINDS and self._fire(f, event, webhook_id)]

    def take_attempt(self, event: str, webhook_id: int) -> WebhookFault | None:
        """The ``down`` fault that makes this attempt fail, if any."""
        with self._lock:
            return next((f for f in self._faults if f.kind == "down" and self._fire(f, event, webhook_id)), None)

    def _fire(self, fault: WebhookFault, event: str, webhook_id: int) -> bool:
        if (fault.remaining is not None and fault.remaining <= 0) or not fault.matches(event, webhook_id):
            return False
        if fault.rate is not None and self._random.random() >= fault.rate:
            return False
        fault.fired += 1
        if fault.remaining is not None:
            fault.remaining -= 1
        return True


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
