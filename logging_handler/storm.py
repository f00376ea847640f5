"""Storm control: group records by fingerprint, fold repeats into digests, cap emails per hour.

The rules, with the defaults of :class:`StormControl`:

* A record's *fingerprint* is (logger name, level, ``pathname:lineno``, exception type).
* The first record of a group goes out promptly, in an email of its own.
* Repeats within ``digest_window`` seconds of that email are only counted; when the window
  ends, one *digest* reports every waiting group with its count, first/last time and one
  sample record.  A group quiet for a whole window starts over (its next record is prompt).
* At most ``max_emails_per_hour`` emails per ``cap_period``.  The last one of a period is a
  "too many alerts" notice carrying everything pending; records arriving after it are held
  (counted) and reported in one digest when the period ends.
* At most ``max_groups`` groups are remembered; the least recently seen one is evicted, and
  its unsent records are counted as dropped and reported in the next email.
* A group also counts its distinct message texts: the first ``max_distinct_messages`` with
  their counts, and how many other distinct texts came (exactly up to
  ``MAX_COUNTED_OTHER_MESSAGES``), so records from one line that say different things are
  all visible in the digest.
* A delivery that fails for a transient reason is :meth:`StormControl.restore`\\ d: its
  counts go back into the groups and come out as one catch-up digest later.  One that fails
  for good is :meth:`StormControl.refuse`\\ d: its records are counted, and the count (with
  the reason) is reported in the next email that gets through.

Everything here is pure bookkeeping driven by a ``clock`` you can replace, so the rules are
tested without sleeping.  It is thread-safe: :meth:`observe` runs in the logging thread,
:meth:`collect` in the delivery worker.

>>> clock = iter([0.0, 1.0, 2.0]).__next__
>>> storm = StormControl(digest_window=60, clock=clock)
>>> key = ("app", 40, "app.py", 1, None)
>>> storm.observe(key, 0.0)          # first of its group: wake the worker
<Observed.NEEDS_SAMPLE_PROMPT: 3>
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

from logging_handler.alert import TRACEBACK_MARKER, Alert, exception_type_from_text

#: (logger name, level number, pathname, line number, exception type name or None)
Fingerprint = tuple[str, int, str, int, "str | None"]

MailKind = Literal["alert", "digest", "notice"]

#: Distinct texts are told apart by their first this many characters (bounds memory per group).
MESSAGE_KEY_CHARS = 1000
#: Beyond the texts shown, distinct ones are counted exactly up to this many per group.
MAX_COUNTED_OTHER_MESSAGES = 100


def fingerprint(record: logging.LogRecord) -> Fingerprint:
    """The group a record belongs to.  Cheap: it runs on every ``emit``.

    >>> import logging
    >>> fingerprint(logging.makeLogRecord({"name": "db", "levelno": 40, "pathname": "db.py", "lineno": 7}))
    ('db', 40, 'db.py', 7, None)
    """
    exc_info = record.exc_info
    exc_type: str | None = None
    if exc_info and exc_info[0] is not None:
        cls = exc_info[0]
        exc_type = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    else:
        msg = record.msg
        if isinstance(msg, str) and TRACEBACK_MARKER in msg:
            exc_type = exception_type_from_text(msg)
    return (record.name, record.levelno, record.pathname, record.lineno, exc_type)


class Observed(enum.IntFlag):
    """What :meth:`StormControl.observe` tells the caller to do next."""

    COUNTED = 0
    #: the caller must take a snapshot and hand it to :meth:`StormControl.attach`
    NEEDS_SAMPLE = 1
    #: the worker should wake up: this group's next email is due now
    PROMPT = 2
    NEEDS_SAMPLE_PROMPT = 3


@dataclass
class _Group:
    key: Fingerprint
    pending: int = 0
    total: int = 0
    first: float = 0.0
    last: float = 0.0
    sample: Alert | None = None
    prompt: bool = False
    quiet_until: float = float("-inf")
    texts: dict[str, int] = field(default_factory=dict)
    other_texts: set[int] = field(default_factory=set)
    other_records: int = 0
    others_overflow: bool = False

    def count_text(self, text: str, count: int, shown: int) -> None:
        if len(text) > MESSAGE_KEY_CHARS:
            text = text[:MESSAGE_KEY_CHARS]
        texts = self.texts
        if text in texts:
            texts[text] += count
        elif len(texts) < shown:
            texts[text] = count
        else:
            self.other_records += count
            digest = hash(text)
            if digest not in self.other_texts:
                if len(self.other_texts) < MAX_COUNTED_OTHER_MESSAGES:
                    self.other_texts.add(digest)
                else:
                    self.others_overflow = True


@dataclass(frozen=True)
class GroupReport:
    """What one email says about one group."""

    key: Fingerprint
    count: int
    first: float  # wall-clock seconds (record.created) of the first record reported
    last: float
    sample: Alert
    total: int  # records of this group since the handler started, reported or not
    #: the first distinct message texts of the group, with their counts
    messages: tuple[tuple[str, int], ...] = ()
    other_digests: frozenset[int] = frozenset()  # hashes of the distinct texts beyond ``messages``
    other_messages_overflow: bool = False  # more distinct texts came than were counted
    other_records: int = 0  # records carrying those texts

    @property
    def exc_type(self) -> str | None:
        return self.key[4]

    @property
    def other_messages(self) -> int:
        """Distinct texts beyond ``messages`` (a lower bound when ``other_messages_overflow``)."""
        return len(self.other_digests)


@dataclass(frozen=True)
class Outgoing:
    """One email the worker should send, before rendering."""

    kind: MailKind
    groups: tuple[GroupReport, ...]
    dropped: int = 0  # records lost to the max_groups bound since the last email
    held: int = 0  # records that arrived while the hourly cap was reached
    held_since: float | None = None  # wall clock
    outage_since: float | None = None  # wall clock of the first failed delivery, if catching up
    failed_attempts: int = 0
    cap: int = 0
    cap_period: float = 3600.0
    resume_at: float | None = None  # wall clock; set on a notice
    digest_window: float = 0.0
    refused: int = 0  # records of earlier emails SMTP2GO refused for good, since the last email
    refused_since: float | None = None  # wall clock of the first of them
    refused_reason: str | None = None  # the last refusal, one line

    @property
    def count(self) -> int:
        return sum(g.count for g in self.groups)

    @property
    def levelno(self) -> int:
        return max(g.sample.levelno for g in self.groups)


@dataclass
class _Period:
    start: float | None = None
    sent: int = 0
    capped: bool = False


@dataclass
class StormControl:
    """The storm rules (see the module docstring); all thresholds are arguments.

    :param digest_window: seconds during which repeats of a group are folded into a digest.
    :param max_emails_per_hour: hard cap of emails per ``cap_period``, the notice included.
    :param cap_period: length of the cap period in seconds (an hour).
    :param max_groups: distinct groups remembered at once (the bound on memory).
    :param clock: monotonic seconds; replace it in tests.
    """

    digest_window: float = 300.0
    max_emails_per_hour: int = 20
    cap_period: float = 3600.0
    max_groups: int = 1000
    max_distinct_messages: int = 5
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    _groups: OrderedDict[Fingerprint, _Group] = field(default_factory=OrderedDict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _period: _Period = field(default_factory=_Period, init=False, repr=False)
    _dropped: int = field(default=0, init=False)
    _dropped_total: int = field(default=0, init=False)
    _held: int = field(default=0, init=False)
    _held_since: float | None = field(default=None, init=False)
    _outage_since: float | None = field(default=None, init=False)
    _failed_attempts: int = field(default=0, init=False)
    _refused: int = field(default=0, init=False)
    _refused_since: float | None = field(default=None, init=False)
    _refused_reason: str | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.digest_window < 0:
            raise ValueError("digest_window must be >= 0 seconds")
        if self.max_emails_per_hour < 1:
            raise ValueError("max_emails_per_hour must be >= 1")
        if self.cap_period <= 0:
            raise ValueError("cap_period must be > 0 seconds")
        if self.max_groups < 1:
            raise ValueError("max_groups must be >= 1")
        if self.max_distinct_messages < 0:
            raise ValueError("max_distinct_messages must be >= 0")

    # -- the logging thread -----------------------------------------------------------------

    def observe(self, key: Fingerprint, created: float, text: str | None = None) -> Observed:
        """Count one record of group ``key`` (``created`` is ``record.created``, ``text`` its
        message, if it could be formatted)."""
        now = self.clock()
        with self._lock:
            group = self._groups.get(key)
            if group is None:
                if len(self._groups) >= self.max_groups:
                    self._evict_one()
                group = self._groups[key] = _Group(key)
            else:
                self._groups.move_to_end(key)
            group.total += 1
            group.last = created
            if self._period.capped:
                if not self._held:
                    self._held_since = created
                self._held += 1
            group.pending += 1
            if text is not None and self.max_distinct_messages:
                texts = group.texts
                if text in texts:  # the common repeat, inline: this runs on every emit
                    texts[text] += 1
                else:
                    group.count_text(text, 1, self.max_distinct_messages)
            if group.pending > 1:
                return Observed.COUNTED
            group.first = created
            if now >= group.quiet_until:
                group.prompt = True
                return Observed.NEEDS_SAMPLE_PROMPT
            return Observed.NEEDS_SAMPLE

    def attach(self, key: Fingerprint, sample: Alert) -> None:
        """Give group ``key`` the sample the last :meth:`observe` asked for."""
        with self._lock:
            group = self._groups.get(key)
            if group is not None and group.pending and group.sample is None:
                group.sample = sample

    def _evict_one(self) -> None:
        # Least recently seen first: during an outage the newest alerts are the ones kept.
        _, old = self._groups.popitem(last=False)
        if old.pending:
            self._dropped += old.pending
            self._dropped_total += old.pending

    # -- the worker -------------------------------------------------------------------------

    def collect(self, *, force: bool = False, final: bool = False) -> list[Outgoing]:
        """The emails due now, marked as sent (call :meth:`restore` if one cannot be delivered).

        ``force`` sends every waiting digest now (``flush()``); ``final`` also allows one
        email past the hourly cap (``close()``: the last words are worth it).
        """
        now = self.clock()
        with self._lock:
            self._roll_period(now)
            ready = [g for g in self._groups.values() if g.pending and g.sample is not None]
            if not ready:
                return []
            prompt = [g for g in ready if g.prompt]
            waiting = [g for g in ready if not g.prompt]
            # After an outage or a capped hour, everything goes out in one catch-up digest.
            catch_up = bool(self._held) or self._outage_since is not None
            if not (force or catch_up) and not any(now >= g.quiet_until for g in waiting):
                waiting = []  # fold on: no digest is due yet
            if not prompt and not waiting:
                return []
            budget = self.max_emails_per_hour - self._period.sent
            if budget <= 0:
                if not final:
                    return []
                budget = 1
            plans: list[tuple[MailKind, list[_Group]]]
            if catch_up:
                plans = [("digest", prompt + waiting)]
            else:
                plans = [("alert", [g]) for g in prompt]
                if waiting:
                    plans.append(("digest", waiting))
            if len(plans) >= budget and not final:
                # The last email of the period: everything left goes into the notice.
                keep = plans[: budget - 1]
                rest = [g for _, groups in plans[budget - 1 :] for g in groups]
                plans = [*keep, ("notice", rest)]
            elif len(plans) > budget:
                plans = [("digest", [g for _, groups in plans for g in groups])]
            mails = [self._take(kind, groups, now) for kind, groups in plans]
            # Counters are reported once, in the first email that goes out.
            mails[0] = replace(
                mails[0],
                dropped=self._dropped,
                held=self._held,
                held_since=self._held_since,
                outage_since=self._outage_since,
                failed_attempts=self._failed_attempts,
                refused=self._refused,
                refused_since=self._refused_since,
                refused_reason=self._refused_reason,
            )
            self._dropped = self._held = self._refused = 0
            self._held_since = self._refused_since = self._refused_reason = None
            if self._period.start is None:
                self._period.start = now
            self._period.sent += len(mails)
            if self._period.sent >= self.max_emails_per_hour:
                self._period.capped = True
            return mails

    def _take(self, kind: MailKind, groups: list[_Group], now: float) -> Outgoing:
        reports = []
        for g in groups:
            assert g.sample is not None
            reports.append(
                GroupReport(
                    g.key,
                    g.pending,
                    g.first,
                    g.last,
                    g.sample,
                    g.total,
                    messages=tuple(sorted(g.texts.items(), key=lambda item: -item[1])),
                    other_digests=frozenset(g.other_texts),
                    other_messages_overflow=g.others_overflow,
                    other_records=g.other_records,
                )
            )
            g.pending = 0
            g.texts = {}
            g.other_texts = set()
            g.other_records = 0
            g.others_overflow = False
            g.sample = None
            g.prompt = False
            g.quiet_until = now + self.digest_window
        resume_at = None
        if kind == "notice":
            start = self._period.start if self._period.start is not None else now
            resume_at = self.wall_clock() + (start + self.cap_period - now)
        return Outgoing(
            kind=kind,
            groups=tuple(reports),
            cap=self.max_emails_per_hour,
            cap_period=self.cap_period,
            resume_at=resume_at,
            digest_window=self.digest_window,
        )

    def _roll_period(self, now: float) -> None:
        start = self._period.start
        if start is not None and now >= start + self.cap_period:
            self._period = _Period()

    def restore(self, mail: Outgoing) -> None:
        """Put an undelivered email's records back; they go out in the next (catch-up) digest."""
        with self._lock:
            for report in mail.groups:
                group = self._groups.get(report.key)
                if group is None:
                    if len(self._groups) >= self.max_groups:
                        self._evict_one()
                    group = self._groups[report.key] = _Group(report.key, total=report.total)
                if group.pending:
                    group.first = min(group.first, report.first)
                    group.last = max(group.last, report.last)
                else:
                    group.first, group.last = report.first, report.last
                group.pending += report.count
                self._restore_texts(group, report)
                # The older sample is the one that started it; keep it.
                group.sample = report.sample
                group.prompt = False
                group.quiet_until = float("-inf")
            self._put_back_counters(mail)

    def _restore_texts(self, group: _Group, report: GroupReport) -> None:
        for text, count in report.messages:
            group.count_text(text, count, self.max_distinct_messages)
        group.other_records += report.other_records
        for digest in report.other_digests:
            if len(group.other_texts) < MAX_COUNTED_OTHER_MESSAGES:
                group.other_texts.add(digest)
        group.others_overflow = group.others_overflow or report.other_messages_overflow

    def _put_back_counters(self, mail: Outgoing) -> None:
        # The counters an undelivered email carried, and the cap budget it used.
        self._dropped += mail.dropped
        self._held += mail.held
        if mail.held_since is not None:
            self._held_since = min(mail.held_since, self._held_since or mail.held_since)
        self._refused += mail.refused
        if mail.refused_since is not None:
            self._refused_since = min(mail.refused_since, self._refused_since or mail.refused_since)
        if mail.refused_reason is not None and self._refused_reason is None:
            self._refused_reason = mail.refused_reason
        self._period.sent = max(0, self._period.sent - 1)
        self._period.capped = self._period.sent >= self.max_emails_per_hour

    def refuse(self, mail: Outgoing, reason: str) -> None:
        """Count the records of an email SMTP2GO refused for good (bad key, rejected content);
        the next email that gets through reports them with ``reason``."""
        with self._lock:
            self._put_back_counters(mail)
            self._refused += mail.count
            if self._refused_since is None:
                self._refused_since = self.wall_clock()
            self._refused_reason = reason

    @property
    def refused_pending(self) -> int:
        """Records refused for good and not yet reported in an email."""
        return self._refused

    def delivery_failed(self) -> None:
        """Note a failed delivery attempt (shown in the catch-up digest)."""
        with self._lock:
            if self._outage_since is None:
                self._outage_since = self.wall_clock()
            self._failed_attempts += 1

    def delivery_succeeded(self) -> None:
        with self._lock:
            self._outage_since = None
            self._failed_attempts = 0

    def next_due(self) -> float | None:
        """Clock time at which :meth:`collect` may next return something; None if idle."""
        with self._lock:
            due: float | None = None
            for g in self._groups.values():
                if not g.pending or g.sample is None:
                    continue
                when = float("-inf") if g.prompt else g.quiet_until
                due = when if due is None else min(due, when)
            if due is None:
                return None
            if self._period.capped and self._period.start is not None:
                due = max(due, self._period.start + self.cap_period)
            return due

    # -- introspection ------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Records counted but not yet in any email."""
        with self._lock:
            return sum(g.pending for g in self._groups.values())

    @property
    def dropped_total(self) -> int:
        """Records lost to the ``max_groups`` bound since the start."""
        return self._dropped_total

    @property
    def group_count(self) -> int:
        return len(self._groups)
