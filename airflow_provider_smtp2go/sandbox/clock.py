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

import math
import threading
import time
from datetime import datetime, timezone

EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc)
"""The sandbox clock stays inside [EARLIEST, LATEST]: beyond it dates stop converting (year
10000 does not exist), and one absurd ``advance`` would break every later request."""


def check_epoch(value: float, delta: float = 0.0, *, what: str = "the sandbox time") -> float:
    """``value + delta`` (POSIX seconds) if the sandbox clock can show it, else ``ValueError``.

    >>> check_epoch(0.0, float("inf"))
    Traceback (most recent call last):
    ...
    ValueError: the sandbox time must stay between 1970-01-01 and 9000-01-01 (got 0.0 + inf seconds).
    """
    try:
        total = float(value) + float(delta)  # float() of a huge int overflows
        ok = math.isfinite(total) and EARLIEST.timestamp() <= total <= LATEST.timestamp()
    except (TypeError, OverflowError):
        total, ok = math.nan, False
    if not ok:
        got = f"{value!r:.40}" + (f" + {delta!r:.40}" if delta else "")
        raise ValueError(f"{what} must stay between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (got {got} seconds).")
    return total


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
            self._offset = check_epoch(_to_epoch(start)) - time.time()
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
        """Move the clock forward (or back, with a negative value) by ``seconds``.

        ``ValueError`` (and no change) for ``inf``/``nan`` or a result outside 1970..9000.
        """
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise TypeError(f"advance() takes a number of seconds, not {type(seconds).__name__}")
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at = check_epoch(self._frozen_at, seconds)
            else:
                check_epoch(time.time() + self._offset, seconds)
                self._offset += seconds

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (naive datetimes are taken as UTC); it must lie in 1970..9000."""
        target = check_epoch(_to_epoch(moment))
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
