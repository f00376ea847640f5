"""End-to-end DAGs for the webhook pipeline (``tests/e2e/test_webhook_pipeline.py``).

* ``smtp2go_e2e_webhook_setup`` (manual): ``Smtp2goEnsureWebhookOperator`` registers the
  receiver URL given in ``dag_run.conf["url"]`` for bounces and deliveries, with the secret
  of connection ``smtp2go_webhook``, as a user's setup DAG would;
* ``smtp2go_e2e_webhook_bounces``: scheduled on ``smtp2go://default/hard-bounced``; its one
  task returns the recipients of the asset events that triggered its run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_smtp2go.operators.webhooks import Smtp2goEnsureWebhookOperator
from airflow_provider_smtp2go.webhooks.assets import webhook_asset

HARD_BOUNCES = webhook_asset("hard-bounced")

with DAG(
    dag_id="smtp2go_e2e_webhook_setup",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    is_paused_upon_creation=False,
    tags=["smtp2go", "e2e"],
):
    Smtp2goEnsureWebhookOperator(
        task_id="ensure_webhook",
        url="{{ dag_run.conf['url'] }}",
        events=["bounce", "delivered"],
        webhook_conn_id="smtp2go_webhook",
    )

with DAG(
    dag_id="smtp2go_e2e_webhook_bounces",
    schedule=[HARD_BOUNCES],
    start_date=datetime(2025, 1, 1),
    catchup=False,
    is_paused_upon_creation=False,
    max_active_runs=50,
    tags=["smtp2go", "e2e"],
):

    @task
    def bounced(triggering_asset_events: Any = None) -> list[str]:
        # Matched by URI: Airflow 3.1 cannot hash an Asset used as a key.
        return [
            str(event.extra["recipient"])
            for asset, events in (triggering_asset_events or {}).items()
            if getattr(asset, "uri", None) == HARD_BOUNCES.uri
            for event in events
        ]

    bounced()
