"""Once per api-server process, move its startup heap out of Python's cyclic garbage collector.

Why this is the receiver's business: Airflow's api-server holds 630,000 to 670,000 objects built at
start-up (modules, the apps and their routes, the configuration) that live as long as the
process.  Each of CPython's full collections walks all of them, 0.4 to 0.5 s here, and a worker
serving concurrent requests runs one every 600 to 1,000 requests, because objects of requests in
flight outlive the young generations.  Under webhook load that was a third of the CPU a new
event costs the worker (0.5 to 0.7 ms of ~2.1 ms, measured with ``gc.callbacks``;
``benchmarks/webhook_latency.py`` shows the effect).  :func:`gc.freeze` moves the objects that
exist now to a permanent generation that collections skip, so full collections walk only what
was made since: new events went from 2.1 to 1.4 ms of the worker's CPU each.

What it changes: nothing that reference counting frees (almost everything); the collector still
finds cycles among objects created later.  Only a reference cycle made entirely of startup
objects that becomes garbage later is never freed.  Airflow itself freezes its heap the same way
in the LocalExecutor, the DAG processor and Celery workers (before forking).

It runs on the receiver's first post, when the api-server has finished starting, after one
:func:`gc.collect` so that no garbage is frozen (about 0.4 s, once).  It leaves the collector
alone when the process disabled it or froze objects itself, and is switched off by
``[smtp2go] webhook_freeze_startup_heap = False``.

Example::

    >>> import types
    >>> calls = []
    >>> fake = types.SimpleNamespace(isenabled=lambda: True, get_freeze_count=lambda: len(calls),
    ...     collect=lambda: 0, freeze=lambda: calls.append("freeze"))
    >>> heap = StartupHeap(collector=fake)
    >>> heap.freeze_once(), heap.freeze_once()
    (1, None)
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from typing import Any

log = logging.getLogger(__name__)


class StartupHeap:
    """Freezes the process's heap on the first :meth:`freeze_once`; every later call is a flag check."""

    def __init__(self, collector: Any = gc) -> None:
        self._gc = collector
        self._lock = threading.Lock()
        self.done = False

    def freeze_once(self) -> int | None:
        """The number of objects frozen on the call that froze them; ``None`` on every other call."""
        with self._lock:  # callers check ``done`` first, so only the first posts ever take it
            if self.done:
                return None
            self.done = True
            if not self._gc.isenabled() or self._gc.get_freeze_count():
                log.info("SMTP2GO webhooks: the process manages its garbage collector itself; left as it is")
                return None
            started = time.perf_counter()
            self._gc.collect()
            self._gc.freeze()
            frozen: int = self._gc.get_freeze_count()
            log.info(
                "SMTP2GO webhooks: moved the api-server's %d startup objects out of the cyclic garbage "
                "collector (gc.freeze, %.0f ms); [smtp2go] webhook_freeze_startup_heap = False turns this off",
                frozen,
                (time.perf_counter() - started) * 1000,
            )
            return frozen
