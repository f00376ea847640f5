"""A DAG scheduled on the hard-bounce webhook asset: the receiver's events must queue it."""

from __future__ import annotations

from datetime import datetime

from airflow_provider_smtp2go.webhooks.assets import webhook_asset

try:
    from airflow.sdk import DAG, task
except ImportError:
    from airflow import DAG
    from airflow.decorators import task

with DAG(
    "smtp2go_test_webhook_bounces",
    schedule=[webhook_asset("hard-bounced")],
    start_date=datetime(2025, 1, 1),
    catchup=False,
) as dag:

    @task
    def note_bounces() -> None:
        pass

    note_bounces()
