"""Bulk sending: thousands of personalised emails from one task, fast, and never twice.

The engine needs no Airflow (``Smtp2goBulkSendOperator`` wraps it):

>>> from airflow_provider_smtp2go.bulk import DirectoryLedgerStore, MessageTemplate, run_bulk_send
>>> from airflow_provider_smtp2go.client import RetryPolicy, Smtp2goClient
>>> client = Smtp2goClient(api_key, retry=RetryPolicy.no_retries(), pool_maxsize=16)  # doctest: +SKIP
>>> result = run_bulk_send(client, [{"email": "jo@example.com", "name": "Jo"}],
...                        MessageTemplate(sender="ops@example.com", subject="Hi {{ name }}", text_body="Hello"),
...                        namespace="my-mailing", ledger_store=DirectoryLedgerStore("ledger"))  # doctest: +SKIP

Modules: ``outcome`` (a row's fate and its allowed changes), ``rows`` (load, render,
validate), ``keys`` (idempotency keys), ``ledger`` (durable, verified progress), ``client``
(what the engine needs from a client), ``concurrency`` (AIMD limit), ``ratecap`` (token
bucket), ``sender`` (the thread pool), ``reconcile`` (activity lookups), ``progress`` (log
cadence), ``report`` (report and summary), ``job`` (the whole run), ``partition`` (one mailing
split over mapped tasks, with the rate caps divided).
"""

from __future__ import annotations

from airflow_provider_smtp2go.bulk.client import BulkClient
from airflow_provider_smtp2go.bulk.concurrency import AdaptiveConcurrency
from airflow_provider_smtp2go.bulk.job import BulkSendResult, run_bulk_send
from airflow_provider_smtp2go.bulk.keys import IDEMPOTENCY_HEADER, idempotency_key
from airflow_provider_smtp2go.bulk.ledger import (
    DirectoryLedgerStore,
    KeyValueLedgerStore,
    Ledger,
    LedgerStore,
    Smtp2goLedgerError,
)
from airflow_provider_smtp2go.bulk.outcome import Outcome, OutcomeTransitionError, transition
from airflow_provider_smtp2go.bulk.partition import partition_rows
from airflow_provider_smtp2go.bulk.progress import ProgressReporter
from airflow_provider_smtp2go.bulk.ratecap import RateCap
from airflow_provider_smtp2go.bulk.reconcile import Reconciler, Resolution
from airflow_provider_smtp2go.bulk.report import RowReport, summarize, write_report
from airflow_provider_smtp2go.bulk.rows import (
    InvalidRowsError,
    MessageTemplate,
    PreparedRow,
    RowError,
    load_rows,
    prepare_rows,
)
from airflow_provider_smtp2go.bulk.sender import BulkSender, SendOutcome

__all__ = [
    "IDEMPOTENCY_HEADER",
    "AdaptiveConcurrency",
    "BulkClient",
    "BulkSendResult",
    "BulkSender",
    "DirectoryLedgerStore",
    "InvalidRowsError",
    "KeyValueLedgerStore",
    "Ledger",
    "LedgerStore",
    "MessageTemplate",
    "Outcome",
    "OutcomeTransitionError",
    "PreparedRow",
    "ProgressReporter",
    "RateCap",
    "Reconciler",
    "Resolution",
    "RowError",
    "RowReport",
    "SendOutcome",
    "Smtp2goLedgerError",
    "idempotency_key",
    "load_rows",
    "partition_rows",
    "prepare_rows",
    "run_bulk_send",
    "summarize",
    "transition",
    "write_report",
]
