"""Injectable time for the sandbox.

Every event the sandbox creates is stored with its (possibly future) moment, and
``/activity/search`` shows only events dated at or before ``clock.now()``.  So "opened 30 s
after delivery" is observed by *advancing the clock*, never by sleeping.

Example::

    >>> from datetime import datetime, timezone
    >>> clock = SandboxClock(start=datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc), frozen=True)
    >>> clock.advance(30)
    >>> clock.now().isoformat()
    '2026-11-26T10:00:30+00:00'
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone


class SandboxClock:
    """Wall-clock time plus an offset, or a frozen instant.

    By default it follows real time.  ``advance()`` and ``set()`` shift it (real time keeps
    flowing on top of the shift); ``freeze()`` stops it so tests are fully deterministic.
    """

    def __init__(self, start: datetime | None = None, *, frozen: bool = False) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._frozen_at: float | None = None
        if start is not None:
            self._offset = _to_epoch(start) - time.time()
        if frozen:
            # Exact, not via the offset: float round-off would turn 10:00:00 into 10:00:00.000001.
            self._frozen_at = _to_epoch(start) if start is not None else time.time()

    def timestamp(self) -> float:
        """Current sandbox time as POSIX seconds (cheap; used on the hot path)."""
        frozen = self._frozen_at
        if frozen is not None:
            return frozen
        return time.time() + self._offset

    def now(self) -> datetime:
        """Current sandbox time, timezone-aware UTC."""
        return datetime.fromtimestamp(self.timestamp(), tz=timezone.utc)

    @property
    def frozen(self) -> bool:
        """True while the clock is stopped."""
        return self._frozen_at is not None

    def advance(self, seconds: float) -> None:
        """Move the clock forward (or back, with a negative value) by ``seconds``."""
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += seconds
            else:
                self._offset += seconds

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (naive datetimes are taken as UTC)."""
        target = _to_epoch(moment)
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at = target
            else:
                self._offset = target - time.time()

    def freeze(self) -> None:
        """Stop the clock at the current sandbox time."""
        with self._lock:
            if self._frozen_at is None:
                self._frozen_at = time.time() + self._offset

    def unfreeze(self) -> None:
        """Let time flow again from the frozen instant."""
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - time.time()
                self._frozen_at = None

    def __repr__(self) -> str:
        mode = "frozen" if self.frozen else "running"
        return f"SandboxClock({self.now().isoformat()}, {mode})"


def _to_epoch(moment: datetime) -> float:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()
