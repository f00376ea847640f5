"""Bulk sends that skip suppressed recipients up front (``skip_suppressed=True``)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_smtp2go.bulk import DirectoryLedgerStore, run_bulk_send
from airflow_provider_smtp2go.client import RetryPolicy, Smtp2goClient
from airflow_provider_smtp2go.sandbox import Smtp2goSandbox

sys.path.insert(0, str(Path(__file__).parent))
import bulk_job_child

pytestmark = pytest.mark.timeout(120)


def run(sb: Smtp2goSandbox, tmp_path: Path, rows: list[dict[str, object]], **kwargs: Any) -> Any:
    with Smtp2goClient(sb.api_key, base_url=sb.base_url, retry=RetryPolicy.no_retries(), pool_maxsize=4) as client:
        return run_bulk_send(
            client,
            rows,
            bulk_job_child.TEMPLATE,
            namespace=bulk_job_child.NAMESPACE,
            ledger_store=DirectoryLedgerStore(tmp_path / "ledger"),
            concurrency=4,
            reconcile_settle_seconds=0.0,
            report_path=tmp_path / "report.csv",
            **kwargs,
        )


def test_suppressed_rows_are_reported_and_not_sent(smtp2go_sandbox: Smtp2goSandbox, tmp_path: Path) -> None:
    sb = smtp2go_sandbox
    sb.suppress("user1@example.com", reason="bounce")
    sb.suppress("blocked.example")
    rows = [*bulk_job_child.rows(4), {"email": "anyone@blocked.example", "name": "X", "n": 99}]
    result = run(sb, tmp_path, rows, skip_suppressed=True)
    assert result.counts["sent"] == 3 and result.counts["suppressed"] == 2 and result.counts["failed"] == 0
    assert result.summary["failures"] == []  # suppressed rows are not failures
    assert sorted(m.recipients[0] for m in sb.messages()) == [f"user{i}@example.com" for i in (0, 2, 3)]
    report = {r["recipient"]: r["outcome"] for r in csv.DictReader((tmp_path / "report.csv").open())}
    assert report["user1@example.com"] == report["anyone@blocked.example"] == "suppressed"
    # A retry (same ledger) sends nothing more, and keeps them suppressed.
    sends = sb.request_count("email/send")
    again = run(sb, tmp_path, rows, skip_suppressed=True)
    assert again.counts["suppressed"] == 2 and again.counts["already_sent"] == 3
    assert sb.request_count("email/send") == sends


def test_a_row_sent_before_it_was_suppressed_stays_already_sent(
    smtp2go_sandbox: Smtp2goSandbox, tmp_path: Path
) -> None:
    sb = smtp2go_sandbox
    rows = bulk_job_child.rows(3)
    run(sb, tmp_path, rows)
    sb.suppress("user0@example.com", reason="bounce")  # it bounced after the first run
    again = run(sb, tmp_path, rows, skip_suppressed=True)
    assert again.counts["already_sent"] == 3 and again.counts["suppressed"] == 0


def test_without_the_pre_check_suppressed_rows_fail_as_before(smtp2go_sandbox: Smtp2goSandbox, tmp_path: Path) -> None:
    sb = smtp2go_sandbox
    sb.suppress("user1@example.com")
    result = run(sb, tmp_path, bulk_job_child.rows(3))
    assert result.counts["failed"] == 1 and result.counts["suppressed"] == 0
    assert sb.request_count("suppression/view") == 0
