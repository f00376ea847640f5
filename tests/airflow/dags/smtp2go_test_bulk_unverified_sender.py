"""Bulk sends from a sender SMTP2GO has not verified: refused, unless told to send anyway."""

from __future__ import annotations

import os
from datetime import datetime

try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG

from airflow_provider_smtp2go.operators.bulk import Smtp2goBulkSendOperator

ROWS = [{"email": f"r{i}@example.com", "n": i} for i in range(3)]

with DAG("smtp2go_test_bulk_unverified_sender", schedule=None, start_date=datetime(2025, 1, 1), catchup=False) as dag:
    for task_id, check in (("refused", True), ("forced", False)):
        Smtp2goBulkSendOperator(
            task_id=task_id,
            rows=ROWS,
            sender="News <news@unverified.example>",
            subject=f"{task_id} {{{{ n }}}}",
            text_body="Row {{ n }}",
            require_verified_sender=check,
            retries=3,  # must not be used: an unverified sender is a permanent problem
            reconcile_settle_seconds=0,
            # Airflow 2.11 has no task state store: keep progress in the test's AIRFLOW_HOME.
            ledger_path=os.path.join(os.environ.get("AIRFLOW_HOME", "/nonexistent"), "ledgers"),
        )
