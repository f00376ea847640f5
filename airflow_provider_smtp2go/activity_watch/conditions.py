"""What a waiting task waits for, and whether the activity seen so far settles it (pure functions).

A :class:`WaitCondition` names the emails (``email_ids``, or a search on recipient, sender or
subject), the ``event_types`` that satisfy it, the ``failure_event_types`` that make it fail
fast, and ``match`` — ``"all"`` ids or ``"any"`` id. :func:`evaluate` reads a list of activity
events and says *waiting*, *satisfied* or *failed*. No I/O, no Airflow: the sensor's poke, the
deferred trigger and the shared poller all use the same rules, and the tests exercise them
without a network.

The rules, per email:

* an email is *decided* by its earliest event (``date`` order) whose type is either a wanted
  event type or a failure event type; a success and a failure at the same instant count as a
  failure (the conservative reading of a multi-recipient email);
* events dated before ``since`` are ignored;
* with ``match="all"`` the wait is satisfied when every email succeeded and fails as soon as
  one email failed (the condition can no longer be met); with ``match="any"`` it is satisfied
  by the first successful email and fails only when every email failed;
* a search (no ids) is satisfied by the first email that succeeds and fails on the first
  email that fails: the emails it will find are not known in advance.

>>> cond = WaitCondition.create(email_ids=["id-1"], event_types=["opened"])
>>> evaluate(cond, [{"email_id": "id-1", "event": "opened", "date": "2026-11-26T10:00:30Z"}]).status
'satisfied'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from airflow_provider_smtp2go.client.activity import ActivityEvent, parse_event_types
from airflow_provider_smtp2go.client.errors import Smtp2goValidationError

MatchMode = Literal["all", "any"]
Status = Literal["waiting", "satisfied", "failed"]

DEFAULT_EVENT_TYPES: tuple[str, ...] = ("delivered",)
DEFAULT_FAILURE_EVENT_TYPES: tuple[str, ...] = ("hard-bounced", "rejected", "spam")
# SMTP2GO keeps 30 days of activity on paid plans by default (5 on the free plan, more with
# the "Activity Duration" add-on): a wait reaching further back would never see its events.
DEFAULT_HISTORY_DAYS = 30
#: Failed polls in a row a wait tolerates before it fails (permanent errors fail at once).
DEFAULT_MAX_CONSECUTIVE_FAILURES = 5


def _split_ids(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part for part in (p.strip() for p in value.replace(";", ",").split(",")) if part]
    return [str(v).strip() for v in value if str(v).strip()]


def normalize_email_ids(value: Any) -> list[str]:
    """Email ids from what a DAG hands over: an id, ``"a,b"``, a list, or the send operator's XCom.

    >>> normalize_email_ids({"email_id": "1u0SwL-B9zBpi9ffUq-JAB2", "succeeded": 1})
    ['1u0SwL-B9zBpi9ffUq-JAB2']
    >>> normalize_email_ids(["a", {"email_id": "b"}, "a"])
    ['a', 'b']
    """
    if value is None:
        return []
    if isinstance(value, Mapping):
        if "email_id" not in value:
            raise Smtp2goValidationError("email_ids", "format", "a mapping must carry an 'email_id' key")
        value = [value["email_id"]]
    elif isinstance(value, (str, bytes)):
        value = [value.decode() if isinstance(value, bytes) else value]
    ids: list[str] = []
    for item in value:
        if isinstance(item, Mapping):
            ids.extend(normalize_email_ids(item))
            continue
        if not isinstance(item, str):
            raise Smtp2goValidationError("email_ids", "format", f"expected email id strings, got {type(item).__name__}")
        for part in _split_ids(item):
            if any(ch.isspace() or ch == "|" for ch in part):
                raise Smtp2goValidationError("email_ids", "format", f"{part!r} is not an SMTP2GO email id")
            if part not in ids:
                ids.append(part)
    return ids


def parse_since(value: datetime | str | None, field_name: str = "since") -> datetime | None:
    """An aware datetime from a datetime or ISO-8601 string; naive values are refused (which zone?)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise Smtp2goValidationError(field_name, "format", f"{value!r} is not an ISO-8601 datetime") from None
    if not isinstance(value, datetime):
        raise Smtp2goValidationError(field_name, "format", f"expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise Smtp2goValidationError(
            field_name, "timezone", "needs a timezone-aware datetime (SMTP2GO reports activity in UTC)"
        )
    return value.astimezone(timezone.utc)


def check_window(since: datetime | None, *, now: datetime, history_days: float = DEFAULT_HISTORY_DAYS) -> None:
    """Refuse a ``since`` older than the account's activity history: its events are gone."""
    if since is None:
        return
    oldest = now - timedelta(days=history_days)
    if since < oldest:
        raise Smtp2goValidationError(
            "since",
            "history",
            f"{since.isoformat()} is more than {history_days:g} days ago; SMTP2GO keeps only that much activity "
            "history (raise history_days if your plan keeps more)",
        )
    if since > now + timedelta(days=1):
        raise Smtp2goValidationError("since", "future", f"{since.isoformat()} is in the future")


def resolve_event_types(
    event_types: str | Iterable[str], failure_event_types: str | Iterable[str] | None
) -> tuple[list[str], list[str]]:
    """The (wanted, failing) event types of a wait; ``None`` failing means the defaults minus the wanted.

    >>> resolve_event_types("opened", None)
    (['opened'], ['hard-bounced', 'rejected', 'spam'])
    """
    wanted = parse_event_types(event_types, "event_types")
    if not wanted:
        raise Smtp2goValidationError("event_types", "required", "name at least one event type to wait for")
    if failure_event_types is None:
        return wanted, [t for t in DEFAULT_FAILURE_EVENT_TYPES if t not in wanted]
    failing = parse_event_types(failure_event_types, "failure_event_types")
    both = [t for t in failing if t in wanted]
    if both:
        raise Smtp2goValidationError(
            "failure_event_types",
            "overlap",
            f"{', '.join(both)} cannot both satisfy and fail the wait; remove it from one list",
        )
    return wanted, failing


@dataclass(frozen=True)
class WaitCondition:
    """What to wait for. Build it with :meth:`create`, which validates; ``to_dict`` round-trips.

    >>> WaitCondition.create(search_recipient="ops@example.com", event_types="hard-bounced",
    ...                      failure_event_types=[]).is_search
    True
    """

    email_ids: tuple[str, ...] = ()
    search_recipient: str | None = None
    search_sender: str | None = None
    search_subject: str | None = None
    event_types: tuple[str, ...] = DEFAULT_EVENT_TYPES
    failure_event_types: tuple[str, ...] = DEFAULT_FAILURE_EVENT_TYPES
    match: MatchMode = "all"
    since: datetime | None = None

    @classmethod
    def create(
        cls,
        *,
        email_ids: Any = None,
        search_recipient: str | None = None,
        search_sender: str | None = None,
        search_subject: str | None = None,
        event_types: str | Iterable[str] = DEFAULT_EVENT_TYPES,
        failure_event_types: str | Iterable[str] | None = None,
        match: str = "all",
        since: datetime | str | None = None,
    ) -> WaitCondition:
        """Validate and normalise; raises ``Smtp2goValidationError`` (a ``ValueError``) naming the field.

        ``failure_event_types=None`` means the defaults (hard-bounced, rejected, spam) minus any
        type you wait for; an explicit list is taken as given and must not overlap ``event_types``.
        """
        wanted, failing = resolve_event_types(event_types, failure_event_types)
        if match not in ("all", "any"):
            raise Smtp2goValidationError("match", "choice", f"must be 'all' or 'any', not {match!r}")
        searches = {
            name: (value.strip() if isinstance(value, str) else value)
            for name, value in (
                ("search_recipient", search_recipient),
                ("search_sender", search_sender),
                ("search_subject", search_subject),
            )
        }
        has_search = any(searches.values())
        if email_ids is not None and has_search:
            raise Smtp2goValidationError(
                "email_ids", "exclusive", "give email_ids or a search (recipient, sender, subject), not both"
            )
        ids = normalize_email_ids(email_ids)
        if not ids and not has_search:
            if email_ids is not None:
                raise Smtp2goValidationError(
                    "email_ids", "required", "the list of email ids is empty: there is nothing to wait for"
                )
            raise Smtp2goValidationError(
                "email_ids", "required", "give email_ids or a search (search_recipient, search_sender, search_subject)"
            )
        return cls(
            email_ids=tuple(ids),
            search_recipient=searches["search_recipient"] or None,
            search_sender=searches["search_sender"] or None,
            search_subject=searches["search_subject"] or None,
            event_types=tuple(wanted),
            failure_event_types=tuple(failing),
            match="any" if match == "any" else "all",
            since=parse_since(since),
        )

    @property
    def is_search(self) -> bool:
        return not self.email_ids

    @property
    def watched_event_types(self) -> tuple[str, ...]:
        """Every type the query must return: the wanted ones and the failing ones."""
        return self.event_types + tuple(t for t in self.failure_event_types if t not in self.event_types)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (trigger kwargs); :meth:`from_dict` restores an equal condition."""
        return {
            "email_ids": list(self.email_ids),
            "search_recipient": self.search_recipient,
            "search_sender": self.search_sender,
            "search_subject": self.search_subject,
            "event_types": list(self.event_types),
            "failure_event_types": list(self.failure_event_types),
            "match": self.match,
            "since": self.since.isoformat() if self.since else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WaitCondition:
        return cls.create(
            email_ids=list(data.get("email_ids") or []) or None,
            search_recipient=data.get("search_recipient"),
            search_sender=data.get("search_sender"),
            search_subject=data.get("search_subject"),
            event_types=data.get("event_types") or DEFAULT_EVENT_TYPES,
            failure_event_types=list(data.get("failure_event_types") or []),
            match=str(data.get("match") or "all"),
            since=data.get("since"),
        )

    def describe(self) -> str:
        """Short human text for logs: ``opened on 2 email(s) (all)``."""
        what = " or ".join(self.event_types)
        if self.email_ids:
            return f"{what} on {len(self.email_ids)} email(s) ({self.match})"
        parts = [
            f"{name}={value!r}"
            for name, value in (
                ("recipient", self.search_recipient),
                ("sender", self.search_sender),
                ("subject", self.search_subject),
            )
            if value
        ]
        return f"{what} on emails matching {', '.join(parts)}"

    def covers(self, event: ActivityEvent) -> bool:
        """True when ``event`` belongs to this wait (its email, its search, its window)."""
        if self.since is not None and event.date < self.since:
            return False
        if self.email_ids:
            return event.email_id in self.email_ids
        if self.search_recipient and self.search_recipient.lower() not in (event.recipient or "").lower():
            return False
        if self.search_sender and self.search_sender.lower() not in _sender_text(event).lower():
            return False
        return not (self.search_subject and self.search_subject.lower() not in (event.subject or "").lower())


def _sender_text(event: ActivityEvent) -> str:
    return " ".join(str(event.raw.get(k) or "") for k in ("sender_full", "sender", "from")) or (event.sender or "")


#: The fields of an activity event that a trigger event may carry. Airflow logs every trigger
#: event's payload at INFO, so recipients, subjects, email clients and outbound IPs stay out.
SUMMARY_FIELDS = ("email_id", "event", "date")


def summarize_event(event: ActivityEvent) -> dict[str, str]:
    """An event reduced to :data:`SUMMARY_FIELDS` (ids, type and date: nothing personal).

    >>> ev = ActivityEvent.from_api({"email_id": "e1", "event": "opened", "date": "2026-11-26T10:00:30Z",
    ...                              "recipient": "jo@example.com", "user_agent": "Mail/16"})
    >>> summarize_event(ev)
    {'email_id': 'e1', 'event': 'opened', 'date': '2026-11-26T10:00:30+00:00'}
    """
    return {"email_id": event.email_id, "event": event.event, "date": event.date.isoformat()}


@dataclass(frozen=True)
class Outcome:
    """The verdict of :func:`evaluate`.

    ``to_payload`` is the full form (XCom); ``to_summary`` the form without personal data (a
    trigger event). ``summary_message`` is ``message`` without recipients or SMTP responses.
    """

    status: Status
    matched: tuple[ActivityEvent, ...] = ()
    failure: ActivityEvent | None = None
    pending: tuple[str, ...] = ()
    message: str = ""
    failed_email_ids: tuple[str, ...] = field(default=())
    summary_message: str = ""

    @property
    def done(self) -> bool:
        return self.status != "waiting"

    def to_payload(self) -> dict[str, Any]:
        """Small JSON-friendly dict: the matching events, still-pending ids and, on failure, why."""
        payload = self._ids()
        payload["events"] = [e.to_dict() for e in self.matched]
        payload["message"] = self.message
        if self.failure is not None:
            payload["failure_event"] = self.failure.to_dict()
        return payload

    def to_summary(self) -> dict[str, Any]:
        """``to_payload`` with each event cut to :data:`SUMMARY_FIELDS` and a message naming no one.

        >>> cond = WaitCondition.create(email_ids=["e1"], event_types=["opened"])
        >>> opened = {"email_id": "e1", "event": "opened", "date": "2026-11-26T10:00:30Z", "recipient": "jo@x.org"}
        >>> "jo@x.org" in str(evaluate(cond, [opened]).to_summary())
        False
        """
        payload = self._ids()
        payload["events"] = [summarize_event(e) for e in self.matched]
        payload["message"] = self.summary_message or self.message
        if self.failure is not None:
            payload["failure_event"] = summarize_event(self.failure)
        return payload

    def _ids(self) -> dict[str, Any]:
        return {
            "status": "success" if self.status == "satisfied" else self.status,
            "email_ids": sorted({e.email_id for e in self.matched}),
            "pending_email_ids": list(self.pending),
        }

    def progress(self, condition: WaitCondition) -> str:
        """One line for a waiting task's log, naming ids and event types only.

        >>> cond = WaitCondition.create(email_ids=["e1", "e2", "e3"], event_types=["opened"])
        >>> seen = [{"email_id": i, "event": "opened", "date": "2026-11-26T10:00:30Z"} for i in ("e1", "e2")]
        >>> evaluate(cond, seen).progress(cond)
        '2 of 3 emails opened; waiting for opened on e3'
        """
        wanted = " or ".join(condition.event_types)
        if condition.is_search:
            return f"no email seen yet; waiting for {condition.describe()}"
        total = len(condition.email_ids)
        succeeded = len({e.email_id for e in self.matched})
        text = f"{succeeded} of {total} email{'s' if total != 1 else ''} {wanted}"
        if self.failed_email_ids:
            text += f" ({len(self.failed_email_ids)} failed)"
        if self.pending:
            shown = ", ".join(self.pending[:3])
            more = f" and {len(self.pending) - 3} more" if len(self.pending) > 3 else ""
            text += f"; waiting for {wanted} on {shown}{more}"
        return text


def _as_event(item: ActivityEvent | Mapping[str, Any]) -> ActivityEvent:
    return item if isinstance(item, ActivityEvent) else ActivityEvent.from_api(item)


def describe_failure(event: ActivityEvent, *, personal: bool = True) -> str:
    """``email 1u0SwL-... to jo@example.com was hard-bounced at ...: 550 ...``

    With ``personal=False`` the recipient and the SMTP response (which often quotes the
    address) are left out.
    """
    recipient = f" to {event.recipient}" if event.recipient and personal else ""
    detail = next(
        (str(event.raw[k]) for k in ("smtp_response", "reason", "error") if event.raw.get(k) and personal),
        "",
    )
    text = f"email {event.email_id}{recipient} was {event.event} at {event.date.isoformat()}"
    return f"{text}: {detail}" if detail else text


def evaluate(condition: WaitCondition, events: Iterable[ActivityEvent | Mapping[str, Any]]) -> Outcome:
    """Decide the wait from the events seen so far (any order, duplicates allowed)."""
    relevant = set(condition.event_types) | set(condition.failure_event_types)
    # Per email: its events of a relevant type, oldest first; failures sort before successes
    # at the same instant.
    per_email: dict[str, list[ActivityEvent]] = {}
    seen: set[tuple[str, str, str, str]] = set()
    for raw in events:
        ev = _as_event(raw)
        if ev.event not in relevant or not condition.covers(ev):
            continue
        identity = (ev.email_id, ev.event, ev.date.isoformat(), ev.recipient or "")
        if identity in seen:
            continue
        seen.add(identity)
        per_email.setdefault(ev.email_id, []).append(ev)

    def order(ev: ActivityEvent) -> tuple[datetime, int]:
        return ev.date, 0 if ev.event in condition.failure_event_types else 1

    succeeded: dict[str, list[ActivityEvent]] = {}
    failed: dict[str, ActivityEvent] = {}
    decided_order: list[str] = []
    for email_id, evs in per_email.items():
        evs.sort(key=order)
        first = evs[0]
        if first.event in condition.failure_event_types:
            failed[email_id] = first
        else:
            succeeded[email_id] = [e for e in evs if e.event in condition.event_types]
        decided_order.append(email_id)
    decided_order.sort(key=lambda i: order(per_email[i][0]))

    def matched(ids: Iterable[str]) -> tuple[ActivityEvent, ...]:
        return tuple(e for i in ids for e in succeeded.get(i, ()))

    if condition.is_search:
        if not decided_order:
            return Outcome("waiting", message=f"waiting for {condition.describe()}")
        first_id = decided_order[0]
        if first_id in failed:
            return _failed(condition, failed[first_id], (), (first_id,))
        return Outcome("satisfied", matched=matched([first_id]), message=f"{condition.describe()}: seen")

    pending = tuple(i for i in condition.email_ids if i not in succeeded and i not in failed)
    if condition.match == "all":
        if failed:
            first_failed = min(failed.values(), key=order)
            return _failed(condition, first_failed, pending, tuple(failed))
        if not pending:
            return Outcome("satisfied", matched=matched(condition.email_ids), message=f"{condition.describe()}: met")
    else:
        if succeeded:
            ids = [i for i in condition.email_ids if i in succeeded]
            return Outcome("satisfied", matched=matched(ids), pending=pending, message=f"{condition.describe()}: met")
        if not pending:
            first_failed = min(failed.values(), key=order)
            return _failed(condition, first_failed, pending, tuple(failed))
    return Outcome(
        "waiting",
        matched=matched(i for i in condition.email_ids if i in succeeded),
        pending=pending,
        message=f"waiting for {condition.describe()}: {len(pending)} email(s) pending",
        failed_email_ids=tuple(failed),
    )


def _failed(
    condition: WaitCondition, failure: ActivityEvent, pending: Sequence[str], failed_ids: Sequence[str]
) -> Outcome:
    context = f" (failure event types: {', '.join(condition.failure_event_types)}; waited for {condition.describe()})"
    return Outcome(
        "failed",
        failure=failure,
        pending=tuple(pending),
        message=describe_failure(failure) + context,
        failed_email_ids=tuple(failed_ids),
        summary_message=describe_failure(failure, personal=False) + context,
    )
