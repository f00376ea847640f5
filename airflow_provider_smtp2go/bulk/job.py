"""One bulk send, start to finish: validate, resume from the ledger, reconcile, send, report.

``run_bulk_send`` is what ``Smtp2goBulkSendOperator`` calls, and it needs no Airflow: a plain
script can use it with a ``DirectoryLedgerStore``. Running it again with the same rows,
template, namespace and ledger is safe: rows already accepted are skipped, rows whose fate was
unknown are looked up in the activity log first, and only rows proven unsent are sent.

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
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_smtp2go.bulk.ledger import Ledger, LedgerStore, RowState
from airflow_provider_smtp2go.bulk.ratecap import RateCap
from airflow_provider_smtp2go.bulk.reconcile import Reconciler, Verdict
from airflow_provider_smtp2go.bulk.report import RowReport, summarize, write_report
from airflow_provider_smtp2go.bulk.rows import MessageTemplate, OnInvalid, PreparedRow, load_rows, prepare_rows
from airflow_provider_smtp2go.bulk.sender import BulkSender
from airflow_provider_smtp2go.client.limits import DEFAULT_MAX_SIZE_BYTES

log = logging.getLogger("airflow_provider_smtp2go.bulk")


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


def run_bulk_send(
    client: Any,
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
    max_attempts: int = 6,
    rate_limit_backoff: float = 60.0,
    reconcile_settle_seconds: float = 120.0,
    reconcile_rounds: int = 2,
    progress_interval: float = 10.0,
    logger: logging.Logger | None = None,
) -> BulkSendResult:
    """Send one personalised email per row, at most once per row across any number of runs.

    :param client: ``Smtp2goClient`` built with ``retry=RetryPolicy.no_retries()`` and
        ``pool_maxsize >= concurrency``.
    :param rows: a list of mappings, or a CSV/JSON/JSONL path or ``ObjectStoragePath``.
    :param template: the ``MessageTemplate`` rendered per row.
    :param namespace: the identity of this job (e.g. dag/task/run/map index), part of each
        row's idempotency key; keep it the same across retries.
    :param ledger_store: where durable progress lives (``DirectoryLedgerStore``, ``KeyValueLedgerStore``).
    :param on_invalid: ``"fail"`` (nothing is sent if any row is invalid) or ``"skip"``.
    :param per_second: optional cap, emails per second.
    :param per_hour: optional cap, emails per hour (SMTP2GO's default account limit is 200,000).
    :param report_path: where to write the per-row report (``.csv`` or ``.jsonl``); optional.
    :param reconcile_settle_seconds: how long after a send its absence from the activity log
        counts as proof it was not accepted.
    :param reconcile_rounds: how many times rows proven unsent after an ambiguous send are sent again.
    """
    logger = logger or log
    started = time.monotonic()
    max_size = getattr(client, "max_size_bytes", DEFAULT_MAX_SIZE_BYTES)
    batch = prepare_rows(load_rows(rows), template, namespace=namespace, on_invalid=on_invalid, max_size_bytes=max_size)
    reports: dict[int, RowReport] = {
        e.index: RowReport(e.index, None, None, "invalid", reason=str(e)) for e in batch.invalid
    }
    if batch.invalid:
        logger.warning(
            "bulk send: skipping %d invalid rows of %d (first: %s)", len(batch.invalid), batch.total, batch.invalid[0]
        )

    ledger = Ledger(ledger_store).load()
    to_send: list[PreparedRow] = []
    to_reconcile: list[tuple[PreparedRow, float | None]] = []
    for row in batch.valid:
        entry = ledger.get(row.key)
        if entry is None or entry.state is RowState.RETRYABLE:
            to_send.append(row)
        elif entry.state is RowState.SENT:
            reports[row.index] = _report(row, "already_sent", email_id=entry.email_id)
        elif entry.state is RowState.FAILED:
            reports[row.index] = _report(row, "failed", reason=f"(earlier try) {entry.reason}")
        else:
            to_reconcile.append((row, entry.pending_since or entry.at))
    if len(ledger):
        logger.info(
            "bulk send: resuming from %s: %d already sent, %d failed earlier, %d to reconcile, %d to send",
            ledger_store.description,
            sum(r.outcome == "already_sent" for r in reports.values()),
            sum(r.outcome == "failed" for r in reports.values()),
            len(to_reconcile),
            len(to_send),
        )

    reconciler = Reconciler(client, settle_seconds=reconcile_settle_seconds, logger=logger)
    if to_reconcile:
        for row, verdict in _reconcile(reconciler, ledger, to_reconcile):
            if verdict.verdict is Verdict.SENT:
                reports[row.index] = _report(row, "already_sent", email_id=verdict.email_id)
            elif verdict.verdict is Verdict.UNSENT:
                to_send.append(row)
            else:
                reports[row.index] = _report(row, "unknown", reason=verdict.reason)
        to_send.sort(key=lambda r: r.index)

    rate_cap = RateCap(per_second=per_second, per_hour=per_hour) if (per_second or per_hour) else None
    sender = BulkSender(
        client,
        concurrency=concurrency,
        rate_cap=rate_cap,
        max_attempts=max_attempts,
        rate_limit_backoff=rate_limit_backoff,
        progress_interval=progress_interval,
        logger=logger,
    )
    attempts: dict[str, int] = {}
    queue, round_no = to_send, 0
    while queue:
        round_no += 1
        outcomes = sender.send(queue, ledger)
        queue = []
        ambiguous: list[tuple[PreparedRow, float | None]] = []
        for outcome in outcomes:
            row = outcome.row
            attempts[row.key] = attempts.get(row.key, 0) + outcome.attempts
            if outcome.state is RowState.AMBIGUOUS:
                entry = ledger.get(row.key)
                ambiguous.append((row, entry.pending_since if entry else None))
                continue
            name = {RowState.SENT: "sent", RowState.FAILED: "failed"}.get(outcome.state, "retryable")
            reports[row.index] = _report(
                row, name, email_id=outcome.email_id, reason=outcome.reason, attempts=attempts[row.key]
            )
        if not ambiguous:
            break
        logger.warning(
            "bulk send: %d sends were ambiguous; checking the activity log before any resend", len(ambiguous)
        )
        for row, verdict in _reconcile(reconciler, ledger, ambiguous):
            if verdict.verdict is Verdict.SENT:
                reports[row.index] = _report(row, "sent", email_id=verdict.email_id, attempts=attempts[row.key])
            elif verdict.verdict is Verdict.UNSENT and round_no <= reconcile_rounds and sender.abort_error is None:
                queue.append(row)
            elif verdict.verdict is Verdict.UNSENT:
                ledger.record(row.key, RowState.RETRYABLE, reason=verdict.reason)
                reports[row.index] = _report(row, "retryable", reason=verdict.reason, attempts=attempts[row.key])
            else:
                reports[row.index] = _report(row, "unknown", reason=verdict.reason, attempts=attempts[row.key])
        ledger.flush()

    records = [reports[i] for i in sorted(reports)]
    location = write_report(records, report_path, fmt=report_format) if report_path is not None else None
    summary = summarize(
        records, total_rows=batch.total, report_location=location, duration_seconds=time.monotonic() - started
    )
    logger.info("bulk send finished: %s%s", summary["counts"], f"; report at {location}" if location else "")
    return BulkSendResult(summary=summary, records=records, abort_error=sender.abort_error)


def _reconcile(
    reconciler: Reconciler, ledger: Ledger, rows: list[tuple[PreparedRow, float | None]]
) -> list[tuple[PreparedRow, Any]]:
    """Run the reconciler and write its proofs to the ledger (unknowns stay ambiguous)."""
    resolutions = reconciler.reconcile(rows)
    result = []
    for row, _ in rows:
        verdict = resolutions[row.key]
        if verdict.verdict is Verdict.SENT:
            ledger.record(row.key, RowState.SENT, index=row.index, email_id=verdict.email_id)
        elif verdict.verdict is Verdict.UNKNOWN:
            ledger.record(row.key, RowState.AMBIGUOUS, index=row.index, reason=verdict.reason)
        result.append((row, verdict))
    ledger.flush()
    return result


def _report(
    row: PreparedRow,
    outcome: str,
    *,
    email_id: str | None = None,
    reason: str | None = None,
    attempts: int = 0,
) -> RowReport:
    return RowReport(row.index, row.key, row.recipient, outcome, email_id=email_id, reason=reason, attempts=attempts)
