"""One bulk send, start to finish: validate, resume, send rounds, finish.

``run_bulk_send`` is what ``Smtp2goBulkSendOperator`` calls, and it needs no Airflow: a plain
script can use it with a ``DirectoryLedgerStore``. Running it again with the same rows,
template, namespace and ledger is safe: rows already accepted are skipped, rows whose fate was
unknown are looked up in the activity log first, and only rows proven unsent are sent.

The guarantee: **a retry never resends a row it cannot prove unsent.** A damaged ledger
(a gap, an emptied or garbage segment, a lost head) raises ``Smtp2goLedgerError`` before
anything is sent. A retry (``attempt > 1``) that finds no ledger at all, or one that the
previous attempt never wrote (it ran where this store was out of reach), looks every row the
ledger does not show settled up in the activity log first; rows it cannot prove either way are
reported ``unknown``, never sent.

>>> result = run_bulk_send(client, rows, MessageTemplate(sender="ops@example.com", subject="Hi {{ name }}",
...                        text_body="Hello {{ name }}"), namespace="nightly-mailing/2026-01-01",
...                        ledger_store=DirectoryLedgerStore("/var/lib/mailing/ledger"),
...                        concurrency=16, per_hour=200_000,
...                        report_path="/var/lib/mailing/report.csv")  # doctest: +SKIP
>>> result.summary["counts"]  # doctest: +SKIP
{'sent': 9998, 'already_sent': 0, 'failed': 2, 'retryable': 0, 'unknown': 0, 'invalid': 0}
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_provider_smtp2go.bulk.client import BulkClient
from airflow_provider_smtp2go.bulk.ledger import Ledger, LedgerStore
from airflow_provider_smtp2go.bulk.outcome import Outcome
from airflow_provider_smtp2go.bulk.ratecap import RateCap
from airflow_provider_smtp2go.bulk.reconcile import Reconciler, Resolution
from airflow_provider_smtp2go.bulk.report import RowReport, summarize, write_report
from airflow_provider_smtp2go.bulk.rows import (
    MessageTemplate,
    OnInvalid,
    PreparedBatch,
    PreparedRow,
    load_rows,
    prepare_rows,
)
from airflow_provider_smtp2go.bulk.sender import DEFAULT_ROW_POLICY, BulkSender
from airflow_provider_smtp2go.bulk.suppressions import read_suppressions
from airflow_provider_smtp2go.client.retry import RetryPolicy

log = logging.getLogger("airflow_provider_smtp2go.bulk")
#: Where activity lookups start on a retry that knows neither its ledger nor when it began.
UNKNOWN_START_LOOKBACK = 24 * 3600.0


@dataclass
class BulkSendResult:
    """The summary (for XCom), every row's record (for the report), and a run-stopping error."""

    summary: dict[str, Any]
    records: list[RowReport] = field(repr=False)
    abort_error: BaseException | None = None

    @property
    def counts(self) -> dict[str, int]:
        return dict(self.summary["counts"])

    @property
    def complete(self) -> bool:
        """True when every valid row is accepted (now or in an earlier try)."""
        c = self.counts
        return c["failed"] == c["retryable"] == c["unknown"] == 0


@dataclass
class _Run:
    """One run's state: the rows, the ledger (every row's outcome) and what the report adds."""

    batch: PreparedBatch
    ledger: Ledger
    reconciler: Reconciler
    logger: logging.Logger
    #: Keys whose outcome was settled by an earlier try (reported already_sent, or failed earlier).
    earlier: set[str] = field(default_factory=set)
    attempts: dict[str, int] = field(default_factory=dict)


def run_bulk_send(
    client: BulkClient,
    rows: Any,
    template: MessageTemplate,
    *,
    namespace: str,
    ledger_store: LedgerStore,
    on_invalid: OnInvalid = "fail",
    concurrency: int = 8,
    per_second: float | None = None,
    per_hour: float | None = None,
    report_path: Any = None,
    report_format: str | None = None,
    retry: RetryPolicy = DEFAULT_ROW_POLICY,
    attempt: int = 1,
    attempts_since: datetime | float | None = None,
    reconcile_settle_seconds: float = 120.0,
    reconcile_rounds: int = 2,
    progress_interval: float = 10.0,
    logger: logging.Logger | None = None,
    skip_suppressed: bool = False,
) -> BulkSendResult:
    """Send one personalised email per row, at most once per row across any number of runs.

    :param client: ``Smtp2goClient`` built with ``retry=RetryPolicy.no_retries()`` and
        ``pool_maxsize >= concurrency``.
    :param rows: a list of mappings, or a CSV/JSON/JSONL path or ``ObjectStoragePath``.
    :param template: the ``MessageTemplate`` rendered per row.
    :param namespace: the identity of this job (e.g. dag/task/run/map index), part of each
        row's idempotency key; keep it the same across retries.
    :param ledger_store: where durable progress lives (``DirectoryLedgerStore``, ``KeyValueLedgerStore``).
        A damaged ledger raises ``Smtp2goLedgerError`` before anything is sent.
    :param on_invalid: ``"fail"`` (nothing is sent if any row is invalid) or ``"skip"``.
    :param per_second: optional cap, emails per second.
    :param per_hour: optional cap, emails per hour (SMTP2GO's default account limit is 200,000).
    :param report_path: where to write the per-row report (``.csv`` or ``.jsonl``); optional.
    :param retry: the per-row budget of the sender (attempts, deadline, backoff).
    :param attempt: which attempt of this job this is (Airflow's ``try_number``; 1 = the first).
        On a later attempt, a store with no ledger (another worker's disk, a cleared store), or
        a ledger the previous attempt did not write, is not taken as the whole story: every row
        it does not show sent or failed is looked up in the activity log before anything is sent.
    :param attempts_since: when the first attempt started (a ``datetime`` or an epoch; e.g. the
        DAG run's start): where those lookups start. Default: 24 hours ago.
    :param reconcile_settle_seconds: how long after a send its absence from the activity log
        counts as proof it was not accepted.
    :param reconcile_rounds: how many times rows proven unsent after an ambiguous send are sent again.
    :param skip_suppressed: read SMTP2GO's suppression list first and record rows whose every
        ``to`` recipient is on it as ``suppressed`` instead of sending them (needs the
        ``client`` to have ``view_suppressions``).
    """
    logger = logger or log
    started = time.monotonic()
    batch = _validate(client, rows, template, namespace=namespace, on_invalid=on_invalid, logger=logger)
    # A scheduled email leaves no activity until its time: absence from the log proves nothing.
    reconciler = Reconciler(
        client,
        settle_seconds=reconcile_settle_seconds,
        logger=logger,
        absence_proves_unsent=template.schedule is None,
    )
    run = _Run(batch, Ledger(ledger_store, attempt=attempt).load(), reconciler, logger)
    to_send = _resume(run, attempts_since)
    if skip_suppressed and to_send:
        to_send = _skip_suppressed(run, client, to_send)
    rate_cap = RateCap(per_second=per_second, per_hour=per_hour) if (per_second or per_hour) else None
    sender = BulkSender(
        client,
        concurrency=concurrency,
        policy=retry,
        rate_cap=rate_cap,
        progress_interval=progress_interval,
        logger=logger,
    )
    _send_rounds(run, sender, to_send, reconcile_rounds)
    return _finish(run, started, report_path, report_format, sender.abort_error)


def _validate(
    client: BulkClient,
    rows: Any,
    template: MessageTemplate,
    *,
    namespace: str,
    on_invalid: OnInvalid,
    logger: logging.Logger,
) -> PreparedBatch:
    """Load and render every row before anything is sent (``InvalidRowsError`` under ``"fail"``)."""
    batch = prepare_rows(
        load_rows(rows), template, namespace=namespace, on_invalid=on_invalid, max_size_bytes=client.max_size_bytes
    )
    if batch.invalid:
        logger.warning(
            "bulk send: skipping %d invalid rows of %d (first: %s)", len(batch.invalid), batch.total, batch.invalid[0]
        )
    return batch


def _resume(run: _Run, attempts_since: datetime | float | None) -> list[PreparedRow]:
    """Read what earlier tries did; look up rows of unknown fate; return the rows proven unsent."""
    ledger = run.ledger
    if ledger.attempt > 1 and (ledger.last_attempt or 0) < ledger.attempt - 1:
        _doubt_unseen_attempts(run, attempts_since)
    ledger.begin()
    to_send: list[PreparedRow] = []
    to_reconcile: list[PreparedRow] = []
    for row in run.batch.valid:
        entry = ledger.get(row.key)
        if entry is None or entry.outcome is Outcome.RETRYABLE:
            to_send.append(row)
        elif entry.outcome in (Outcome.SENT, Outcome.FAILED, Outcome.SUPPRESSED):
            run.earlier.add(row.key)
        else:
            to_reconcile.append(row)
    if len(ledger):
        run.logger.info(
            "bulk send: resuming from %s: %d settled earlier, %d to look up, %d to send",
            ledger.store.description,
            len(run.earlier),
            len(to_reconcile),
            len(to_send),
        )
    for row, resolution in _reconcile(run, to_reconcile):
        if resolution.outcome is Outcome.SENT:
            run.earlier.add(row.key)
        elif resolution.outcome is Outcome.RETRYABLE:
            to_send.append(row)
    return sorted(to_send, key=lambda r: r.index)


def _skip_suppressed(run: _Run, client: Any, rows: list[PreparedRow]) -> list[PreparedRow]:
    """Record rows whose every ``to`` recipient is suppressed; return the others."""
    suppressed = read_suppressions(client)
    keep = []
    for row in rows:
        to = row.email.to
        if suppressed.covers_all(to if isinstance(to, tuple) else [str(to)]):
            reason = "every recipient is on SMTP2GO's suppression list"
            run.ledger.record(row.key, Outcome.SUPPRESSED, index=row.index, reason=reason)
        else:
            keep.append(row)
    if len(keep) < len(rows):
        run.ledger.flush()
        run.logger.info("bulk send: %d rows skipped: all their recipients are suppressed", len(rows) - len(keep))
    return keep


def _doubt_unseen_attempts(run: _Run, attempts_since: datetime | float | None) -> None:
    """An earlier attempt wrote somewhere else: every row not settled here may have been sent."""
    ledger = run.ledger
    if isinstance(attempts_since, datetime):
        since = attempts_since.timestamp()
    else:
        since = time.time() - UNKNOWN_START_LOOKBACK if attempts_since is None else float(attempts_since)
    run.logger.warning(
        "bulk send: this is attempt %d, but %s %s: looking every row it does not show settled up in the "
        "activity log before sending anything",
        ledger.attempt,
        ledger.store.description,
        "holds no ledger (another worker's disk? a cleared store?)"
        if not ledger.found
        else f"was last written by attempt {ledger.last_attempt}",
    )
    for row in run.batch.valid:
        entry = ledger.get(row.key)
        if entry is None or entry.outcome is Outcome.RETRYABLE:
            reason = "an attempt this ledger did not see may have sent it"
            ledger.record(row.key, Outcome.AMBIGUOUS, index=row.index, reason=reason, pending_since=since)
    # Durable first: should this attempt die too, the next one still knows these rows are in doubt.
    ledger.flush()


def _send_rounds(run: _Run, sender: BulkSender, queue: list[PreparedRow], rounds: int) -> None:
    """Send ``queue``; look ambiguous sends up; send those proven unsent again, up to ``rounds`` times."""
    round_no = 0
    while queue:
        round_no += 1
        ambiguous: list[PreparedRow] = []
        for outcome in sender.send(queue, run.ledger):
            run.attempts[outcome.row.key] = run.attempts.get(outcome.row.key, 0) + outcome.attempts
            if outcome.outcome is Outcome.AMBIGUOUS:
                ambiguous.append(outcome.row)
        if not ambiguous:
            return
        run.logger.warning(
            "bulk send: %d sends were ambiguous; checking the activity log before any resend", len(ambiguous)
        )
        resend = round_no <= rounds and sender.abort_error is None
        queue = [row for row, res in _reconcile(run, ambiguous) if resend and res.outcome is Outcome.RETRYABLE]


def _reconcile(run: _Run, rows: Sequence[PreparedRow]) -> list[tuple[PreparedRow, Resolution]]:
    """Look ``rows`` up in the activity log and record what it proved (SENT, RETRYABLE or UNKNOWN)."""
    if not rows:
        return []
    entries = [e for e in (run.ledger.get(row.key) for row in rows) if e is not None]
    resolutions = run.reconciler.reconcile(
        rows,
        since=min((e.pending_since or e.at for e in entries), default=None),
        settled_after=max((e.at for e in entries), default=None),
    )
    result = []
    for row in rows:
        res = resolutions[row.key]
        run.ledger.record(row.key, res.outcome, index=row.index, email_id=res.email_id, reason=res.reason)
        result.append((row, res))
    run.ledger.flush()
    return result


def _finish(
    run: _Run, started: float, report_path: Any, report_format: str | None, abort_error: BaseException | None
) -> BulkSendResult:
    """Every row's final outcome, read from the ledger; the report file and the XCom summary."""
    records = [RowReport(e.index, None, None, Outcome.INVALID, reason=str(e)) for e in run.batch.invalid]
    for row in run.batch.valid:
        entry = run.ledger.get(row.key)
        outcome = entry.outcome if entry is not None else Outcome.UNKNOWN
        reason = entry.reason if entry is not None else "no outcome recorded"
        if outcome is Outcome.SENT and row.key in run.earlier:
            outcome = Outcome.ALREADY_SENT
        elif outcome is Outcome.FAILED and row.key in run.earlier:
            reason = f"(earlier try) {reason}"
        elif not outcome.final:  # cannot happen: every round ends in a lookup; never claim more than is known
            outcome, reason = Outcome.UNKNOWN, f"left {outcome}: {reason}"
        records.append(
            RowReport(
                row.index,
                row.key,
                row.recipient,
                outcome,
                email_id=entry.email_id if entry is not None else None,
                reason=None if outcome in (Outcome.SENT, Outcome.ALREADY_SENT) else reason,
                attempts=run.attempts.get(row.key, 0),
                schedule_id=entry.schedule_id if entry is not None else None,
            )
        )
    records.sort(key=lambda r: r.index)
    location = write_report(records, report_path, fmt=report_format) if report_path is not None else None
    summary = summarize(
        records, total_rows=run.batch.total, report_location=location, duration_seconds=time.monotonic() - started
    )
    run.logger.info("bulk send finished: %s%s", summary["counts"], f"; report at {location}" if location else "")
    return BulkSendResult(summary=summary, records=records, abort_error=abort_error)
