"""A scheduled bulk send, called off from its XCom as it is: ``schedule_ids=bulk.output``,
and ``from_tasks`` on a bulk task that failed part-way."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG

from airflow_provider_smtp2go.operators.bulk import Smtp2goBulkSendOperator
from airflow_provider_smtp2go.operators.scheduled import Smtp2goCancelScheduledOperator

HOME = os.environ.get("AIRFLOW_HOME", "/nonexistent")
SEND_AT = datetime.now(timezone.utc) + timedelta(hours=2)

with DAG("smtp2go_test_bulk_cancel_scheduled", schedule=None, start_date=datetime(2025, 1, 1), catchup=False) as dag:
    campaign = Smtp2goBulkSendOperator(
        task_id="campaign",
        rows=[{"email": f"c{i}@example.com", "n": i} for i in range(5)],
        subject="Launch {{ n }}",
        text_body="Row {{ n }}",
        schedule=SEND_AT,
        require_verified_sender=False,
        reconcile_settle_seconds=0,
        report_path=os.path.join(HOME, "reports", "campaign.csv"),
    )
    partial = Smtp2goBulkSendOperator(
        task_id="partial",
        rows=[
            {"email": "p0@example.com"},
            {"email": "blocked@example.com"},
            {"email": "p2@example.com"},
        ],  # blocked: suppressed by the test
        subject="Partial",
        text_body="x",
        schedule=SEND_AT,
        require_verified_sender=False,
        reconcile_settle_seconds=0,
        ledger_path=os.path.join(HOME, "ledgers"),
    )
    call_off = Smtp2goCancelScheduledOperator(task_id="call_off", schedule_ids=campaign.output)
    call_off_partial = Smtp2goCancelScheduledOperator(
        task_id="call_off_partial", from_tasks="partial", trigger_rule="all_done"
    )
    partial >> call_off_partial
