"""A bulk send whose first try ends with rows of unknown fate: the Airflow retry must not resend them."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta
from typing import Any

try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG

from airflow_provider_smtp2go.operators.bulk import Smtp2goBulkSendOperator


class LostDiskBulkSend(Smtp2goBulkSendOperator):
    """With BULK_TEST_LOSE_LEDGER set, a retry cannot see the first try's ledger (another worker's disk)."""

    def execute(self, context: Any) -> Any:
        if os.environ.get("BULK_TEST_LOSE_LEDGER") and context["ti"].try_number > 1 and self.ledger_path:
            shutil.rmtree(self.ledger_path, ignore_errors=True)
        return super().execute(context)


with DAG("smtp2go_test_bulk_retry", schedule=None, start_date=datetime(2025, 1, 1), catchup=False) as dag:
    LostDiskBulkSend(
        task_id="bulk",
        rows=[{"email": f"r{i}@example.com", "n": i} for i in range(30)],
        subject="Notice {{ n }}",
        text_body="Row {{ n }}",
        concurrency=4,
        retries=1,
        retry_delay=timedelta(seconds=0),
        reconcile_settle_seconds=0,
        progress_store=os.environ.get("BULK_TEST_PROGRESS_STORE", "auto"),  # type: ignore[arg-type]
        ledger_path=os.environ.get("BULK_TEST_LEDGER_PATH") or None,
    )
