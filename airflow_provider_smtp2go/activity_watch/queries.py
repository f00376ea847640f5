"""Turn waiting conditions into as few ``/activity/search`` requests as possible, and run them.

:func:`plan_queries` is pure: every email id of every waiting condition goes into one
``search`` string (SMTP2GO ORs ``a | b`` terms), cut into chunks of ``chunk_size`` ids; the
searches (recipient, sender, subject) are grouped when identical. Each query asks only for the
event types someone waits for, from the oldest ``since`` it serves (never further back than
the account's history). :func:`fetch_events` / :func:`afetch_events` read the pages through the
client's one pager (``scan_activity``), up to ``max_pages``; a longer answer is marked
``truncated`` and said in a warning: the poll's verdict is then partial (the oldest events
were not read), and the next poll asks again.

``search`` also matches subjects and recipients, so a result can mention an id by accident:
callers keep only events whose ``email_id`` they watch (``WaitCondition.covers``).

>>> from airflow_provider_smtp2go.activity_watch.conditions import WaitCondition
>>> from datetime import datetime, timezone
>>> conds = [WaitCondition.create(email_ids=["a", "b"]), WaitCondition.create(email_ids=["b", "c"])]
>>> [(q.search_terms, served) for q, served in plan_queries(conds, now=datetime.now(timezone.utc), chunk_size=2)]
[(('a', 'b'), [0, 1]), (('c',), [1])]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_smtp2go.activity_watch.conditions import DEFAULT_HISTORY_DAYS, WaitCondition
from airflow_provider_smtp2go.client.activity import MAX_ACTIVITY_LIMIT, ActivityEvent, parse_api_datetime

if TYPE_CHECKING:
    from airflow_provider_smtp2go.client.activity import ActivityScan
    from airflow_provider_smtp2go.client.aio import AsyncSmtp2goClient
    from airflow_provider_smtp2go.client.sync import Smtp2goClient

log = logging.getLogger(__name__)

# SMTP2GO documents no length limit for ``search``; 100 ids (~2.3 kB) keeps each request small
# while 200 waiting emails still cost only two requests per interval.
DEFAULT_CHUNK_SIZE = 100
DEFAULT_MAX_PAGES = 10


@dataclass(frozen=True)
class ActivityQuery:
    """One ``/activity/search`` request (before paging)."""

    search_terms: tuple[str, ...] = ()
    search_recipient: str | None = None
    search_sender: str | None = None
    search_subject: str | None = None
    event_types: tuple[str, ...] = ()
    start_date: datetime | None = None

    def filters(self, *, page_size: int = MAX_ACTIVITY_LIMIT) -> dict[str, Any]:
        """Keyword arguments for ``client.search_activity``."""
        out: dict[str, Any] = {"limit": page_size}
        if self.search_terms:
            out["search"] = list(self.search_terms)
        for name in ("search_recipient", "search_sender", "search_subject"):
            value = getattr(self, name)
            if value:
                out[name] = value
        if self.event_types:
            out["event_types"] = list(self.event_types)
        if self.start_date is not None:
            out["start_date"] = self.start_date
        return out


def _merge_types(conditions: Sequence[WaitCondition]) -> tuple[str, ...]:
    types: list[str] = []
    for cond in conditions:
        types.extend(t for t in cond.watched_event_types if t not in types)
    return tuple(types)


def _start(conditions: Sequence[WaitCondition], oldest: datetime) -> datetime:
    # Without ``since`` a wait covers the whole history: an email id is unique, old events are its own.
    starts = [c.since if c.since is not None else oldest for c in conditions]
    return max(min(starts), oldest)


def plan_queries(
    conditions: Sequence[WaitCondition],
    *,
    now: datetime,
    history_days: float = DEFAULT_HISTORY_DAYS,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> list[tuple[ActivityQuery, list[int]]]:
    """The requests that cover every condition, each with the indices of the conditions it serves."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    oldest = now - timedelta(days=history_days)
    plan: list[tuple[ActivityQuery, list[int]]] = []

    by_id: dict[str, list[int]] = {}
    for index, cond in enumerate(conditions):
        for email_id in cond.email_ids:
            by_id.setdefault(email_id, []).append(index)
    ids = sorted(by_id)
    for offset in range(0, len(ids), chunk_size):
        chunk = ids[offset : offset + chunk_size]
        served = sorted({i for email_id in chunk for i in by_id[email_id]})
        members = [conditions[i] for i in served]
        plan.append(
            (
                ActivityQuery(
                    search_terms=tuple(chunk),
                    event_types=_merge_types(members),
                    start_date=_start(members, oldest),
                ),
                served,
            )
        )

    searches: dict[tuple[str | None, str | None, str | None], list[int]] = {}
    for index, cond in enumerate(conditions):
        if cond.is_search:
            searches.setdefault((cond.search_recipient, cond.search_sender, cond.search_subject), []).append(index)
    for (recipient, sender, subject), served in searches.items():
        members = [conditions[i] for i in served]
        plan.append(
            (
                ActivityQuery(
                    search_recipient=recipient,
                    search_sender=sender,
                    search_subject=subject,
                    event_types=_merge_types(members),
                    start_date=_start(members, oldest),
                ),
                served,
            )
        )
    return plan


def _say_if_truncated(query: ActivityQuery, scan: ActivityScan) -> None:
    # Results come newest first, so what was not read is the oldest activity. The verdict of
    # this poll is partial; the next poll asks again from the start, so nothing is hidden for
    # good unless the answer stays this long.
    if scan.truncated:
        log.warning(
            "SMTP2GO activity query still had more pages after %d; this poll saw only the newest events "
            "(partial result, %s). Narrow the wait (fewer ids per chunk, a later since) if this repeats",
            scan.pages,
            query.search_terms[:3] or query.search_recipient or query.search_sender or query.search_subject,
        )


async def afetch_events(
    client: AsyncSmtp2goClient,
    query: ActivityQuery,
    *,
    page_size: int = MAX_ACTIVITY_LIMIT,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> ActivityScan:
    """Every event of ``query`` up to ``max_pages`` pages; ``truncated`` says more were left (and a warning)."""
    scan = await client.scan_activity(max_pages=max_pages, **query.filters(page_size=page_size))
    _say_if_truncated(query, scan)
    return scan


def fetch_events(
    client: Smtp2goClient,
    query: ActivityQuery,
    *,
    page_size: int = MAX_ACTIVITY_LIMIT,
    max_pages: int = DEFAULT_MAX_PAGES,
) -> ActivityScan:
    """Sync twin of :func:`afetch_events` (the sensor's poke)."""
    scan = client.scan_activity(max_pages=max_pages, **query.filters(page_size=page_size))
    _say_if_truncated(query, scan)
    return scan


def poll_condition(
    client: Smtp2goClient,
    condition: WaitCondition,
    *,
    now: datetime,
    history_days: float = DEFAULT_HISTORY_DAYS,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> list[ActivityEvent]:
    """One synchronous look at the activity of one condition (every chunk, every page)."""
    events: list[ActivityEvent] = []
    for query, _ in plan_queries([condition], now=now, history_days=history_days, chunk_size=chunk_size):
        scan = fetch_events(client, query)
        events.extend(e for e in scan.events if condition.covers(e))
    return events


def read_full_events(
    client: Smtp2goClient,
    summaries: Sequence[Mapping[str, Any]],
    *,
    now: datetime,
    history_days: float = DEFAULT_HISTORY_DAYS,
) -> list[dict[str, Any]]:
    """The full events (recipient, SMTP response...) behind summaries of ``email_id``, ``event``, ``date``.

    One search per chunk of ids, from the oldest summary's date. A summary whose event the
    search does not return any more stays as it is.
    """
    condition = WaitCondition.create(
        email_ids=sorted({str(s["email_id"]) for s in summaries}),
        event_types=sorted({str(s["event"]) for s in summaries}),
        failure_event_types=[],
        since=min(parse_api_datetime(str(s["date"])) for s in summaries),
    )
    found: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for event in poll_condition(client, condition, now=now, history_days=history_days):
        full = event.to_dict()
        found.setdefault((event.email_id, event.event, full["date"]), []).append(full)
    result: list[dict[str, Any]] = []
    for summary in summaries:
        key = (str(summary["email_id"]), str(summary["event"]), parse_api_datetime(str(summary["date"])).isoformat())
        same = found.get(key)
        result.append(same.pop(0) if same else dict(summary))
    return result
