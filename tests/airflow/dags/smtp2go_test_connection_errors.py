"""One send whose connection is missing or malformed, with Airflow retries that must not be used."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG

from airflow_provider_smtp2go.operators.smtp2go import Smtp2goSendEmailOperator

with DAG("smtp2go_test_connection_errors", schedule=None, start_date=datetime(2025, 1, 1), catchup=False) as dag:
    Smtp2goSendEmailOperator(
        task_id="send",
        smtp2go_conn_id=os.environ.get("SMTP2GO_TEST_CONN_ID", "smtp2go_default"),
        sender="airflow@example.com",
        to="ops@example.com",
        subject="never sent",
        text_body="The connection is broken.",
        retries=2,
        retry_delay=timedelta(seconds=0),
    )
