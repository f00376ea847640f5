"""Waiting for SMTP2GO activity (delivered, opened, bounced...): the rules and the shared poller.

No Airflow here: the sensor, the triggers and plain asyncio programs use the same pieces.

* :mod:`.conditions` — :class:`WaitCondition` (validated) and :func:`evaluate` (pure).
* :mod:`.queries` — coalesce conditions into few ``/activity/search`` requests and run them.
* :mod:`.poller` — one poll loop per account per process, fanned out to every waiter.

>>> from airflow_provider_smtp2go.activity_watch import WaitCondition, evaluate
>>> evaluate(WaitCondition.create(email_ids="id-1"), []).status
'waiting'
"""

from __future__ import annotations

from airflow_provider_smtp2go.activity_watch.conditions import (
    DEFAULT_EVENT_TYPES,
    DEFAULT_FAILURE_EVENT_TYPES,
    DEFAULT_HISTORY_DAYS,
    Outcome,
    WaitCondition,
    check_window,
    evaluate,
    normalize_email_ids,
    parse_since,
)
from airflow_provider_smtp2go.activity_watch.poller import (
    DEFAULT_REQUESTS_PER_MINUTE,
    ActivityWatch,
    PollerRegistry,
    PollResult,
    SharedActivityPoller,
    shared_pollers,
)
from airflow_provider_smtp2go.activity_watch.queries import (
    DEFAULT_CHUNK_SIZE,
    ActivityQuery,
    plan_queries,
    poll_condition,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_EVENT_TYPES",
    "DEFAULT_FAILURE_EVENT_TYPES",
    "DEFAULT_HISTORY_DAYS",
    "DEFAULT_REQUESTS_PER_MINUTE",
    "ActivityQuery",
    "ActivityWatch",
    "Outcome",
    "PollResult",
    "PollerRegistry",
    "SharedActivityPoller",
    "WaitCondition",
    "check_window",
    "evaluate",
    "normalize_email_ids",
    "parse_since",
    "plan_queries",
    "poll_condition",
    "shared_pollers",
]
