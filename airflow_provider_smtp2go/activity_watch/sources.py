"""Where a wait learns of events: ``"poll"`` (``/activity/search``), ``"webhook"`` or ``"auto"`` (both).

* ``"poll"`` (default): the shared poller (:mod:`.poller`), as before.
* ``"webhook"``: only what the webhook receiver recorded, read each :data:`WEBHOOK_READ_INTERVAL`
  seconds from inside Airflow (no SMTP2GO call at all). Needs email ids (the receiver files
  events by email id) and Airflow 3.3+ (see :mod:`airflow_provider_smtp2go.webhooks.inbox`).
* ``"auto"``: webhooks first, and the shared poller at a slow cadence
  (:data:`AUTO_POLL_INTERVAL`, or the waiter's own interval if that is longer) to fill gaps:
  a webhook may never arrive (the receiver was down longer than SMTP2GO retries, or the
  webhook is not configured for that event). Where webhooks cannot be read (before Airflow
  3.3, or a search instead of ids) ``"auto"`` is plain polling at the waiter's interval.

Both sources feed the same :func:`~.conditions.evaluate`.

>>> resolve_source("auto", unreadable="Airflow 3.2 has no asset state store", has_email_ids=True)
'poll'
>>> resolve_source("webhook", unreadable=None, has_email_ids=True)
'webhook'
>>> auto_poll_interval(60.0)
300.0
"""

from __future__ import annotations

from typing import Literal

Source = Literal["poll", "webhook", "auto"]
SOURCES: tuple[Source, ...] = ("poll", "webhook", "auto")
#: Seconds between reads of the webhook inbox (local to Airflow: no SMTP2GO budget spent).
WEBHOOK_READ_INTERVAL = 5.0
#: Polling cadence under ``"auto"``: five requests an hour per chunk, a twelfth of the default.
AUTO_POLL_INTERVAL = 300.0


def check_source(source: str) -> Source:
    """``source`` if valid, else ``ValueError`` naming the choices.

    >>> check_source("push")
    Traceback (most recent call last):
    ...
    ValueError: source must be one of 'poll', 'webhook', 'auto', not 'push'
    """
    for choice in SOURCES:
        if source == choice:
            return choice
    raise ValueError(f"source must be one of {', '.join(map(repr, SOURCES))}, not {source!r}")


def resolve_source(source: str, *, unreadable: str | None, has_email_ids: bool) -> Source:
    """The source a wait actually uses; ``"webhook"`` it cannot honour raises ``ValueError``.

    ``unreadable`` says why this Airflow cannot let a trigger read webhook events (None: it can).
    """
    chosen = check_source(source)
    if chosen == "poll":
        return chosen
    if not has_email_ids:
        if chosen == "webhook":
            raise ValueError("source='webhook' needs email_ids: the webhook inbox is filed by email id, not by search")
        return "poll"
    if unreadable is not None:
        if chosen == "webhook":
            raise ValueError(unreadable)
        return "poll"
    return chosen


def auto_poll_interval(poll_interval: float) -> float:
    """The polling interval of an ``"auto"`` wait whose own interval is ``poll_interval``."""
    return max(float(poll_interval), AUTO_POLL_INTERVAL)
