"""End-to-end DAG: send N emails, then wait for each open with ``source="webhook"`` sensors.

The sensors defer at once and read the webhook inbox (the asset state store the receiver in
the api-server writes) from the triggerer: no ``/activity/search`` at all. Run by
``tests/e2e/test_webhook_sensors.py``; the recipients open 600 s (sandbox time) after
delivery, which the test brings forward by advancing the sandbox clock, and the sandbox then
posts the ``open`` webhooks to the api-server.

``SMTP2GO_E2E_WEBHOOK_EMAILS`` (default 20) sets how many emails.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_smtp2go.operators.smtp2go import Smtp2goSendEmailOperator
from airflow_provider_smtp2go.sensors.smtp2go import Smtp2goActivitySensor

EMAILS = int(os.environ.get("SMTP2GO_E2E_WEBHOOK_EMAILS", "20"))
RECIPIENTS = [f"hooked{i:02d}+open-600s@example.com" for i in range(EMAILS)]

with DAG(
    dag_id="smtp2go_e2e_webhook_sensors",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    is_paused_upon_creation=False,
    tags=["smtp2go", "e2e", "webhooks"],
) as dag:
    send = Smtp2goSendEmailOperator.partial(
        task_id="send",
        subject="Your weekly digest",
        text_body="Hello! Here is what happened this week.",
    ).expand(to=RECIPIENTS)

    wait_opened = Smtp2goActivitySensor.partial(
        task_id="wait_opened",
        event_types=["opened"],
        source="webhook",
        deferrable=True,
        timeout=timedelta(minutes=10),
        # Airflow 3.3.2 may fail a deferred try whose trigger fires within seconds of the
        # deferral (apache/airflow#67287, #72716); the retry reads the recorded event before
        # deferring and completes at once (README, "Sensors fed by webhooks").
        retries=1,
        retry_delay=timedelta(seconds=1),
    ).expand(email_ids=send.output)

    @task
    def report(results: list[dict[str, Any]]) -> dict[str, Any]:
        opened = sorted((e["recipient"], e["email_id"]) for r in results for e in r["events"])
        return {"opened": [{"recipient": r, "email_id": i} for r, i in opened]}

    report(wait_opened.output)  # type: ignore[arg-type]  # an XComArg, resolved to the list at run time
