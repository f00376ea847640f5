"""A task that fails with Airflow's classic ``email_on_failure``: exercises the email backend."""

from __future__ import annotations

import warnings
from datetime import datetime

try:
    from airflow.sdk import DAG, task
except ImportError:
    from airflow import DAG
    from airflow.decorators import task

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # email_on_failure is deprecated on Airflow 3, still honoured
    with DAG("smtp2go_test_email_on_failure", schedule=None, start_date=datetime(2025, 1, 1), catchup=False) as dag:

        @task(email=["oncall@example.com"], email_on_failure=True, email_on_retry=False, retries=0)
        def boom() -> None:
            raise RuntimeError("the nightly load broke")

        boom()
