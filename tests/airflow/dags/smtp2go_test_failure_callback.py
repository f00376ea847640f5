"""The documented replacement for ``email_on_failure``: the notifier as ``on_failure_callback``.

Airflow 3.2 never calls a third-party ``[email] email_backend`` for failure emails
(apache/airflow#65012); this works on every supported Airflow.
"""

from __future__ import annotations

from datetime import datetime

try:
    from airflow.sdk import DAG, task
except ImportError:
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_smtp2go.notifications.smtp2go import send_smtp2go_notification

with DAG(
    "smtp2go_test_failure_callback",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    default_args={"retries": 0, "on_failure_callback": send_smtp2go_notification(to="oncall@example.com")},
) as dag:

    @task
    def boom() -> None:
        raise RuntimeError("the nightly load broke")

    boom()
