"""Smtp2goBulkSendOperator with real Airflow (dag.test on sqlite) against the sandbox."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from airflow_provider_smtp2go.bulk import IDEMPOTENCY_HEADER

REPO_ROOT = Path(__file__).resolve().parents[2]
BULK_DAG = REPO_ROOT / "example_dags" / "example_smtp2go_bulk_send.py"
RETRY_DAG = Path(__file__).parent / "dags" / "smtp2go_test_bulk_retry.py"


def _airflow_33_plus() -> bool:
    from airflow_provider_smtp2go._compat import AIRFLOW_VERSION

    return AIRFLOW_VERSION >= (3, 3, 0)


def test_example_bulk_dag_sends_each_customer_once_and_reports(
    run_dag, smtp2go_conn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP2GO_EXAMPLE_STORAGE", f"file://{tmp_path}/storage")
    monkeypatch.setenv("SMTP2GO_EXAMPLE_CUSTOMERS", "60")
    monkeypatch.setenv("SMTP2GO_EXAMPLE_SETTLE_SECONDS", "0")
    sb = smtp2go_conn.sandbox
    sb.inject_fault("email/send", status=429, retry_after=0.05, count=3)
    sb.inject_fault("email/send", kind="drop_after", count=2)

    result = run_dag(BULK_DAG)

    assert result.state == "success", result
    assert result.task_states == {"fetch_customers": "success", "send_invoices": "success", "summarise": "success"}
    summary = result.xcom["send_invoices"]
    assert summary["counts"]["sent"] == 60 and summary["failures"] == []
    assert len(json.dumps(summary)) < 2000  # compact: no per-row data in XCom
    assert result.xcom["summarise"]["sent"] == 60
    messages = sb.messages()
    assert sb.duplicates() == {} and len(messages) == 60
    assert len({m.custom_headers[IDEMPOTENCY_HEADER] for m in messages}) == 60
    invoice = next(m for m in messages if m.to == ["customer7@example.com"])
    assert invoice.subject.startswith("Your invoice ") and invoice.subject.endswith("-00007")
    assert "Customer 7" in invoice.html_body and invoice.custom_headers["X-Invoice"].endswith("-00007")
    report = Path(summary["report"])
    assert report.is_relative_to(tmp_path / "storage")
    rows = list(csv.DictReader(io.StringIO(report.read_text())))
    assert len(rows) == 60 and {r["outcome"] for r in rows} == {"sent"}
    assert smtp2go_conn.api_key not in report.read_text() and smtp2go_conn.api_key not in json.dumps(summary)


@pytest.mark.parametrize("store", ["auto", "directory", "directory-lost-on-retry"])
def test_airflow_retry_does_not_resend_accepted_rows(
    run_dag, smtp2go_conn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str
) -> None:
    if store == "auto" and not _airflow_33_plus():
        pytest.skip("the task state store arrived in Airflow 3.3")
    lost = store == "directory-lost-on-retry"
    store = store.removesuffix("-lost-on-retry")
    monkeypatch.setenv("BULK_TEST_PROGRESS_STORE", store)
    monkeypatch.setenv("BULK_TEST_LEDGER_PATH", str(tmp_path / "ledger") if store == "directory" else "")
    # Lost: try 2 runs where try 1's ledger directory cannot be seen, and must look every row up first.
    monkeypatch.setenv("BULK_TEST_LOSE_LEDGER", "1" if lost else "")
    sb = smtp2go_conn.sandbox
    # Try 1: three sends are accepted but their answers are lost, and the activity lookup is
    # refused, so their fate is unknown: the task fails (retryable) without resending them.
    sb.inject_fault("email/send", kind="drop_after", count=3)
    sb.inject_fault("activity/search", status=403, count=1)

    result = run_dag(RETRY_DAG)

    assert result.state == "success", result
    summary = result.xcom["bulk"]
    # Try 2 found the three (or, with the ledger lost, all thirty) in the activity log and sent nothing again.
    assert summary["counts"]["already_sent"] == 30 and summary["counts"]["sent"] == 0
    assert sb.duplicates() == {} and len(sb.messages()) == 30
    assert sb.request_count("email/send") == 30
    if store == "directory":
        assert any((tmp_path / "ledger").iterdir())
    else:
        assert not (tmp_path / "ledger").exists()
