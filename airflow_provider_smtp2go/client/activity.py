"""Activity events: their names, their shape, and how to ask ``/activity/search`` for them."""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, TypedDict

from airflow_provider_smtp2go.client.errors import Smtp2goValidationError
from airflow_provider_smtp2go.client.limits import MAX_ACTIVITY_PAGE_SIZE

MAX_ACTIVITY_LIMIT = MAX_ACTIVITY_PAGE_SIZE

log = logging.getLogger("airflow_provider_smtp2go.client")


class EventType(str, enum.Enum):
    """The ten event types ``/activity/search`` knows (its spelling, not the webhooks')."""

    PROCESSED = "processed"
    DELIVERED = "delivered"
    OPENED = "opened"
    CLICKED = "clicked"
    SOFT_BOUNCED = "soft-bounced"
    HARD_BOUNCED = "hard-bounced"
    REJECTED = "rejected"
    SPAM = "spam"
    UNSUBSCRIBED = "unsubscribed"
    RESUBSCRIBED = "resubscribed"

    def __str__(self) -> str:
        return self.value


EVENT_TYPES: frozenset[str] = frozenset(e.value for e in EventType)


def parse_event_types(values: str | Iterable[str | EventType], field_name: str = "event_types") -> list[str]:
    """Validate event type names (``"opened"``, ``EventType.CLICKED``...) and keep their order.

    >>> parse_event_types("delivered, opened")
    ['delivered', 'opened']
    """
    items = [v.strip() for v in values.split(",")] if isinstance(values, str) else list(values)
    result: list[str] = []
    for item in items:
        name = item.value if isinstance(item, EventType) else str(item).strip().lower()
        if name not in EVENT_TYPES:
            raise Smtp2goValidationError(
                field_name,
                "choice",
                f"unknown event type {item!r}; expected one of {', '.join(sorted(EVENT_TYPES))}",
            )
        if name not in result:
            result.append(name)
    return result


def format_api_datetime(value: datetime | date | str, field_name: str) -> str:
    """UTC ``YYYY-MM-DDTHH:MM:SSZ`` for the API; naive datetimes are refused (which zone?)."""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise Smtp2goValidationError(
                field_name, "timezone", "needs a timezone-aware datetime; SMTP2GO works in UTC"
            )
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()


def parse_api_datetime(value: str) -> datetime:
    """Read an RFC 3339 timestamp as SMTP2GO writes it (``2022-11-12T07:44:58Z``)."""
    text = value.strip().replace("Z", "+00:00")
    if " " in text and "T" not in text:
        text = text.replace(" ", "T", 1)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class ActivityEvent:
    """One row of ``/activity/search``; ``raw`` keeps every field SMTP2GO sent.

    >>> ev = ActivityEvent.from_api({"email_id": "1u0SwL-B9zBpi9ffUq-JAB2", "event": "opened",
    ...                              "date": "2022-11-12T07:44:58Z", "recipient": "jo@example.com"})
    >>> ev.event, ev.date.year
    ('opened', 2022)
    """

    email_id: str
    event: str
    date: datetime
    recipient: str | None = None
    sender: str | None = None
    subject: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ActivityEvent:
        return cls(
            email_id=str(data.get("email_id", "")),
            event=str(data.get("event", "")),
            date=parse_api_datetime(str(data.get("date") or "1970-01-01T00:00:00Z")),
            recipient=data.get("recipient"),
            sender=data.get("sender") or data.get("from"),
            subject=data.get("subject"),
            raw=dict(data),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (for XCom): the raw event plus the date as a string."""
        return {**self.raw, "email_id": self.email_id, "event": self.event, "date": self.date.isoformat()}


@dataclass(frozen=True)
class ActivityPage:
    """One page of results; pass ``continue_token`` back to get the next one."""

    events: list[ActivityEvent]
    total_events: int
    continue_token: str | None
    request_id: str | None = None


class ActivityFilters(TypedDict, total=False):
    """Keyword filters of ``/activity/search`` (see ``build_activity_query``)."""

    start_date: datetime | date | str | None
    end_date: datetime | date | str | None
    search: str | Iterable[str] | None
    search_email_id: str | None
    search_subject: str | None
    search_sender: str | None
    search_recipient: str | None
    search_usernames: Iterable[str] | None
    subaccounts: Iterable[str] | None
    event_types: str | Iterable[str | EventType] | None
    only_latest: bool
    only_latest_by_sent: bool
    include_headers: bool
    custom_headers: Iterable[str] | None
    limit: int | None
    region: str | None
    continue_token: str | None


def build_activity_query(
    *,
    start_date: datetime | date | str | None = None,
    end_date: datetime | date | str | None = None,
    search: str | Iterable[str] | None = None,
    search_email_id: str | None = None,
    search_subject: str | None = None,
    search_sender: str | None = None,
    search_recipient: str | None = None,
    search_usernames: Iterable[str] | None = None,
    subaccounts: Iterable[str] | None = None,
    event_types: str | Iterable[str | EventType] | None = None,
    only_latest: bool = False,
    only_latest_by_sent: bool = False,
    include_headers: bool = False,
    custom_headers: Iterable[str] | None = None,
    limit: int | None = None,
    region: str | None = None,
    continue_token: str | None = None,
) -> dict[str, Any]:
    """Validate filters and build the ``/activity/search`` body.

    ``search`` may be a list: SMTP2GO ORs terms joined by ``" | "``. Dates cover
    [start_date, end_date) in UTC.
    """
    body: dict[str, Any] = {}
    if start_date is not None:
        body["start_date"] = format_api_datetime(start_date, "start_date")
    if end_date is not None:
        body["end_date"] = format_api_datetime(end_date, "end_date")
    if isinstance(start_date, datetime) and isinstance(end_date, datetime) and end_date <= start_date:
        raise Smtp2goValidationError("end_date", "range", "must be after start_date ([start, end) range)")
    if search is not None:
        terms = [search] if isinstance(search, str) else [str(t) for t in search]
        if not terms or not all(t.strip() for t in terms):
            raise Smtp2goValidationError("search", "required", "search terms must not be empty")
        body["search"] = " | ".join(t.strip() for t in terms)
    for name, value in (
        ("search_email_id", search_email_id),
        ("search_subject", search_subject),
        ("search_sender", search_sender),
        ("search_recipient", search_recipient),
        ("region", region),
        ("continue_token", continue_token),
    ):
        if value is not None:
            body[name] = value
    for name, values in (
        ("search_usernames", search_usernames),
        ("subaccounts", subaccounts),
        ("custom_headers", custom_headers),
    ):
        if values is not None:
            listed = [values] if isinstance(values, str) else list(values)
            if listed:
                body[name] = listed
    if event_types is not None:
        types = parse_event_types(event_types)
        if types:
            body["event_types"] = types
    if only_latest:
        body["only_latest"] = True
    if only_latest_by_sent:
        body["only_latest_by_sent"] = True
    if include_headers:
        body["include_headers"] = True
    if limit is not None:
        if not 1 <= int(limit) <= MAX_ACTIVITY_LIMIT:
            raise Smtp2goValidationError("limit", "range", f"must be between 1 and {MAX_ACTIVITY_LIMIT}")
        body["limit"] = int(limit)
    return body


def parse_activity_page(data: Mapping[str, Any], request_id: str | None = None) -> ActivityPage:
    """Turn the ``data`` of an ``/activity/search`` response into an ``ActivityPage``."""
    events = [ActivityEvent.from_api(item) for item in data.get("events") or [] if isinstance(item, Mapping)]
    token = data.get("continue_token") or None
    total = data.get("total_events")
    return ActivityPage(
        events=events,
        total_events=int(total) if isinstance(total, (int, float, str)) and str(total).isdigit() else len(events),
        continue_token=str(token) if token else None,
        request_id=request_id,
    )


@dataclass(frozen=True)
class ActivityScan:
    """The events of a paged ``/activity/search``, and whether paging stopped early.

    ``truncated`` is True when ``max_pages`` (or a server repeating its ``continue_token``)
    ended the scan while SMTP2GO still had more; ``continue_token`` then resumes it. Callers
    decide what truncation means; it is never silent.
    """

    events: list[ActivityEvent]
    pages: int
    truncated: bool
    continue_token: str | None


class ActivityPager:
    """The one paging rule (sans-IO): which filters to ask with next, and when to stop.

    >>> pager = ActivityPager({"search_email_id": "E1"}, max_pages=1)
    >>> pager.add(ActivityPage(events=[], total_events=9, continue_token="t2"))
    False
    >>> scan = pager.scan()
    >>> scan.pages, scan.truncated, scan.continue_token
    (1, True, 't2')
    """

    def __init__(self, filters: ActivityFilters, max_pages: int | None = None, *, collect: bool = True) -> None:
        if max_pages is not None and (isinstance(max_pages, bool) or not isinstance(max_pages, int) or max_pages < 1):
            raise Smtp2goValidationError(
                "max_pages", "range", f"must be a whole number >= 1 or None, not {max_pages!r}"
            )
        self.filters: ActivityFilters = ActivityFilters(**filters)
        self.max_pages = max_pages
        self.pages = 0
        self.events: list[ActivityEvent] = []
        self.continue_token: str | None = filters.get("continue_token")  # to notice a repeat
        self.truncated = False
        self._collect = collect

    def add(self, page: ActivityPage) -> bool:
        """Take one page; True when another should be fetched with ``self.filters``."""
        self.pages += 1
        if self._collect:
            self.events.extend(page.events)
        token = page.continue_token
        repeated = token is not None and token == self.continue_token
        self.continue_token = token
        if not token:
            return False
        if repeated or (self.max_pages is not None and self.pages >= self.max_pages):
            self.truncated = True
            return False
        self.filters["continue_token"] = token
        return True

    def scan(self) -> ActivityScan:
        return ActivityScan(
            events=list(self.events),
            pages=self.pages,
            truncated=self.truncated,
            continue_token=self.continue_token if self.truncated else None,
        )

    def warn_if_truncated(self) -> None:
        """Log that a streaming scan stopped early (``iter_activity`` cannot return a flag)."""
        if self.truncated:
            log.warning(
                "activity search stopped after %d page(s) (max_pages=%s) with more events left "
                "(search_email_id=%s); use scan_activity() to see truncated and continue_token",
                self.pages,
                self.max_pages,
                self.filters.get("search_email_id"),
            )
