"""Resolve ambiguous sends by asking SMTP2GO's activity log, before anything is sent again.

A row is *ambiguous* when its request left but no usable answer came back (a timeout, a 5xx,
a dropped connection, or a crash between intent and outcome). SMTP2GO has no idempotency
keys, but every bulk email carries the custom header ``X-Smtp2go-Idempotency-Key``, and
``/activity/search`` returns the value of requested custom headers with each event. So:

1. wait until the newest ambiguous send is ``settle_seconds`` old (activity is not instant);
2. search the activity log for the rows' recipients since shortly before the first of them
   left (several recipients per query, OR-ed with ``|``; the client keeps to 60 requests/min);
3. an event carrying the row's key proves it ``Outcome.SENT`` (its ``email_id`` is kept); no
   such event after settling, with every page read, proves it unsent (``Outcome.RETRYABLE``:
   safe to send); a failed or unfinished lookup proves nothing, and the row is
   ``Outcome.UNKNOWN``: never guessed, never resent.

>>> reconciler = Reconciler(client, settle_seconds=120)  # doctest: +SKIP
>>> resolutions = reconciler.reconcile(rows, since=first_pending, settled_after=last_answer)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow_provider_smtp2go.bulk.client import BulkClient
from airflow_provider_smtp2go.bulk.keys import IDEMPOTENCY_HEADER
from airflow_provider_smtp2go.bulk.outcome import Outcome
from airflow_provider_smtp2go.bulk.rows import PreparedRow
from airflow_provider_smtp2go.client.errors import Smtp2goError

log = logging.getLogger("airflow_provider_smtp2go.bulk")
PROVEN_UNSENT = "proven unsent: no activity event carries its idempotency key"


@dataclass(frozen=True)
class Resolution:
    """What the activity log proved about one key: ``outcome`` is SENT, RETRYABLE or UNKNOWN."""

    key: str
    outcome: Outcome
    email_id: str | None = None
    reason: str | None = None


def header_value(event_raw: Mapping[str, Any], name: str = IDEMPOTENCY_HEADER) -> str | None:
    """The value of custom header ``name`` in an activity event (dict or list-of-pairs form)."""
    headers = event_raw.get("custom_headers")
    wanted = name.lower()
    if isinstance(headers, Mapping):
        for key, value in headers.items():
            if str(key).lower() == wanted:
                return str(value)
    elif isinstance(headers, list):
        for item in headers:
            if isinstance(item, Mapping) and str(item.get("header", "")).lower() == wanted:
                return str(item.get("value"))
    return None


class Reconciler:
    """Look idempotency keys up in ``/activity/search``.

    :param client: an ``Smtp2goClient`` (its activity limiter keeps the 60/min budget).
    :param settle_seconds: how old a send must be before "not in the activity log" counts as
        proof that it was not accepted. SMTP2GO logs ``processed`` when it accepts an email;
        give it time to show up.
    :param terms_per_query: recipients OR-ed into one search.
    :param lookback: seconds searched before the earliest ambiguous send (clock skew).
    :param absence_proves_unsent: ``False`` for scheduled sends, which have no activity until
        their time: a row not found is then ``UNKNOWN``, never resent.
    """

    def __init__(
        self,
        client: BulkClient,
        *,
        settle_seconds: float = 120.0,
        terms_per_query: int = 20,
        lookback: float = 300.0,
        max_pages: int = 50,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        logger: logging.Logger | None = None,
        absence_proves_unsent: bool = True,
    ) -> None:
        self.client = client
        self.absence_proves_unsent = absence_proves_unsent
        self.settle_seconds = settle_seconds
        self.terms_per_query = max(1, terms_per_query)
        self.lookback = lookback
        self.max_pages = max_pages
        self._clock = clock
        self._sleep = sleep
        self.log = logger or log
        self.queries = 0

    def reconcile(
        self, rows: Sequence[PreparedRow], *, since: float | None = None, settled_after: float | None = None
    ) -> dict[str, Resolution]:
        """Resolve ``rows`` whose sends may have started at ``since`` and ended by ``settled_after``.

        Both are wall-clock epochs (default: now). The search covers the activity log from
        ``since - lookback``; it starts once ``settled_after + settle_seconds`` has passed.
        """
        if not rows:
            return {}
        now = self._clock()
        wait = (now if settled_after is None else settled_after) + self.settle_seconds - now
        if wait > 0:
            self.log.info("bulk send: waiting %.0f s for SMTP2GO's activity log before reconciling", wait)
            self._sleep(wait)
        start = datetime.fromtimestamp(min(now, since or now) - self.lookback, tz=timezone.utc)
        by_recipient: dict[str, list[PreparedRow]] = {}
        for row in rows:
            by_recipient.setdefault(_search_term(row.recipient), []).append(row)
        resolutions: dict[str, Resolution] = {}
        terms = list(by_recipient)
        for offset in range(0, len(terms), self.terms_per_query):
            group = terms[offset : offset + self.terms_per_query]
            group_rows = [row for term in group for row in by_recipient[term]]
            wanted = {row.key for row in group_rows}
            try:
                found, complete = self._search(group, start, wanted)
            except Smtp2goError as exc:
                for row in group_rows:
                    resolutions[row.key] = Resolution(
                        row.key, Outcome.UNKNOWN, reason=f"activity lookup failed: {type(exc).__name__}: {exc}"
                    )
                continue
            for row in group_rows:
                if row.key in found:
                    resolutions[row.key] = Resolution(row.key, Outcome.SENT, email_id=found[row.key])
                elif complete and self.absence_proves_unsent:
                    resolutions[row.key] = Resolution(row.key, Outcome.RETRYABLE, reason=PROVEN_UNSENT)
                elif complete:
                    resolutions[row.key] = Resolution(
                        row.key, Outcome.UNKNOWN, reason="not in the activity log, but a scheduled send has none yet"
                    )
                else:
                    resolutions[row.key] = Resolution(
                        row.key, Outcome.UNKNOWN, reason=f"activity search not exhausted after {self.max_pages} pages"
                    )
        counts = {o.value: n for o in Outcome if (n := sum(r.outcome is o for r in resolutions.values()))}
        self.log.info("bulk send: reconciled %d ambiguous rows: %s", len(resolutions), counts)
        return resolutions

    def _search(self, terms: list[str], start: datetime, wanted: set[str]) -> tuple[dict[str, str], bool]:
        """Keys found -> email_id, and whether every matching event was read."""
        found: dict[str, str] = {}
        token: str | None = None
        for _ in range(self.max_pages):
            self.queries += 1
            page = self.client.search_activity(
                search=terms,
                start_date=start,
                custom_headers=[IDEMPOTENCY_HEADER],
                limit=1000,
                continue_token=token,
            )
            for event in page.events:
                key = header_value(event.raw)
                if key in wanted and key not in found:
                    found[key] = event.email_id
            token = page.continue_token
            if not token or len(found) == len(wanted):
                return found, True
        return found, False


def _search_term(address: str) -> str:
    # Search on the bare address: display names may differ in the log, and "|" splits terms.
    bare = address.rsplit("<", 1)[-1].rstrip(">").strip()
    return bare.replace("|", "")
