"""Progress at a steady cadence: sent / failed / remaining, rate and ETA, every ``interval`` seconds.

The dispatcher calls ``tick()`` often; a line is logged only when ``interval`` has passed, so
a 10,000-row run logs a few dozen lines, not 10,000.

>>> import logging
>>> now = [0.0]
>>> p = ProgressReporter(100, interval=10, clock=lambda: now[0], logger=logging.getLogger("doc"))
>>> p.add(sent=40); now[0] = 10.0
>>> p.line()
'bulk send: 40/100 done (sent 40, failed 0, ambiguous 0), 60 remaining, 4.0 emails/s, ETA 15s'
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger("airflow_provider_smtp2go.bulk")


def format_duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


class ProgressReporter:
    """Counts outcomes of one send pass and logs a summary line every ``interval`` seconds."""

    def __init__(
        self,
        total: int,
        *,
        interval: float = 10.0,
        logger: logging.Logger | None = None,
        clock: Callable[[], float] = time.monotonic,
        extra: Callable[[], str] | None = None,
    ) -> None:
        self.total = total
        self.interval = interval
        self.log = logger or log
        self._clock = clock
        self._extra = extra
        self.started = clock()
        self._last = self.started
        self.sent = 0
        self.failed = 0
        self.ambiguous = 0
        self.lines_logged = 0

    def add(self, *, sent: int = 0, failed: int = 0, ambiguous: int = 0) -> None:
        self.sent += sent
        self.failed += failed
        self.ambiguous += ambiguous

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.ambiguous

    @property
    def remaining(self) -> int:
        return max(0, self.total - self.done)

    def rate(self) -> float:
        """Rows finished per second since the pass started."""
        elapsed = self._clock() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        rate = self.rate()
        eta = format_duration(self.remaining / rate) if rate > 0 else "unknown"
        text = (
            f"bulk send: {self.done}/{self.total} done (sent {self.sent}, failed {self.failed}, "
            f"ambiguous {self.ambiguous}), {self.remaining} remaining, {rate:.1f} emails/s, ETA {eta}"
        )
        return f"{text}, {self._extra()}" if self._extra else text

    def tick(self, *, force: bool = False) -> bool:
        """Log a line if ``interval`` has passed (or ``force``); return whether it logged."""
        now = self._clock()
        if not force and now - self._last < self.interval:
            return False
        self._last = now
        self.lines_logged += 1
        self.log.info("%s", self.line())
        return True
