"""One mailing split by ``partition_rows`` over three mapped bulk tasks sharing one ``ledger_path``."""

from __future__ import annotations

import os
from datetime import datetime

try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG

from airflow_provider_smtp2go.bulk import partition_rows
from airflow_provider_smtp2go.operators.bulk import Smtp2goBulkSendOperator

ROWS = [{"email": f"part{i:02d}@example.com", "n": i} for i in range(30)]

with DAG("smtp2go_test_bulk_mapped_ledger", schedule=None, start_date=datetime(2025, 1, 1), catchup=False) as dag:
    Smtp2goBulkSendOperator.partial(
        task_id="send",
        subject="Notice {{ n }}",
        text_body="Row {{ n }}",
        concurrency=2,
        progress_store="directory",
        ledger_path=os.environ.get("BULK_TEST_LEDGER_PATH", "/nonexistent"),
    ).expand_kwargs(partition_rows(ROWS, 3, max_per_second=300))
