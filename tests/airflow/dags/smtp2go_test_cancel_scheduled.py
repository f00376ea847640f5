"""Schedule an email, then cancel it from the send task's XCom (and a suppression round trip)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow_provider_smtp2go.operators.scheduled import Smtp2goCancelScheduledOperator
from airflow_provider_smtp2go.operators.smtp2go import Smtp2goSendEmailOperator
from airflow_provider_smtp2go.operators.suppressions import (
    Smtp2goAddSuppressionOperator,
    Smtp2goRemoveSuppressionOperator,
)

try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG

with DAG("smtp2go_test_cancel_scheduled", schedule=None, start_date=datetime(2025, 1, 1), catchup=False) as dag:
    reminder = Smtp2goSendEmailOperator(
        task_id="schedule_reminder",
        to="customer@example.com",
        subject="Your trial ends tomorrow",
        text_body="Renew now.",
        schedule=datetime.now(timezone.utc) + timedelta(hours=2),
    )
    cancel = Smtp2goCancelScheduledOperator(task_id="cancel_reminder", from_tasks="schedule_reminder")
    suppress = Smtp2goAddSuppressionOperator(
        task_id="suppress", email_addresses="gone@example.com, bounced.example", block_description="hard bounce"
    )
    unsuppress = Smtp2goRemoveSuppressionOperator(
        task_id="unsuppress", email_addresses=["gone@example.com", "never@example.com"]
    )
    reminder >> cancel >> suppress >> unsuppress
