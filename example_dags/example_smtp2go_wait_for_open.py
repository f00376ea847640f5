"""Send a welcome email, wait until it is delivered and then opened, then act on it.

What it shows:

* ``Smtp2goSendEmailOperator`` returns ``{"email_id", ...}``; the sensors take it as is
  (``email_ids=send.output``);
* ``Smtp2goActivitySensor`` waiting for ``delivered`` (a hard bounce, rejection or spam
  complaint fails it at once, naming the email and the event), then for ``opened``;
* deferrable mode: each sensor pokes once, then waits in the triggerer, where every waiting
  task on the account shares one ``/activity/search`` per interval;
* the follow-up task reads the matching events from the sensor's XCom.

Settings (environment variables, read when the DAG is parsed):

* ``SMTP2GO_EXAMPLE_POKE_INTERVAL`` — seconds between polls (default 60: one sensor then uses
  one of the account's 60 activity requests per minute);
* ``SMTP2GO_EXAMPLE_DEFERRABLE`` — ``true``/``false`` (default: ``[operators] default_deferrable``);
* ``SMTP2GO_EXAMPLE_SENSOR_MODE`` — ``poke`` or ``reschedule`` when not deferrable.

Try it against the sandbox: the recipient ``reader+open-30s@example.com`` opens the email 30 s
after delivery.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

try:  # Airflow 3
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_smtp2go.operators.smtp2go import Smtp2goSendEmailOperator
from airflow_provider_smtp2go.sensors.smtp2go import Smtp2goActivitySensor

POKE_INTERVAL = float(os.environ.get("SMTP2GO_EXAMPLE_POKE_INTERVAL", "60"))
SENSOR_MODE = os.environ.get("SMTP2GO_EXAMPLE_SENSOR_MODE", "poke")
_deferrable = os.environ.get("SMTP2GO_EXAMPLE_DEFERRABLE")
SENSOR_ARGS: dict[str, Any] = {"poke_interval": POKE_INTERVAL, "mode": SENSOR_MODE}
if _deferrable is not None:
    SENSOR_ARGS["deferrable"] = _deferrable.strip().lower() in ("1", "true", "yes")

with DAG(
    dag_id="example_smtp2go_wait_for_open",
    description="Send a welcome email and follow up once it has been opened",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={"recipient": "reader+open-30s@example.com"},
    tags=["example", "smtp2go"],
) as dag:
    send = Smtp2goSendEmailOperator(
        task_id="send_welcome",
        to="{{ params.recipient }}",
        subject="Welcome aboard",
        html_body="<p>Hello! Here is <a href='https://example.com/start'>how to get started</a>.</p>",
        text_body="Hello! Here is how to get started: https://example.com/start",
    )

    delivered = Smtp2goActivitySensor(
        task_id="wait_delivered",
        email_ids=send.output,
        event_types=["delivered"],
        timeout=timedelta(hours=2),
        **SENSOR_ARGS,
    )

    opened = Smtp2goActivitySensor(
        task_id="wait_opened",
        email_ids=send.output,
        event_types=["opened", "clicked"],
        timeout=timedelta(days=3),
        soft_fail=True,  # never opened within 3 days: skip the follow-up, do not fail the run
        **SENSOR_ARGS,
    )

    @task
    def follow_up(activity: dict[str, Any]) -> dict[str, Any]:
        """Act on the open: here, report who opened what and when (a CRM update in real life)."""
        first = min(activity["events"], key=lambda e: e["date"])
        return {"email_id": first["email_id"], "recipient": first.get("recipient"), "opened_at": first["date"]}

    send >> delivered >> opened
    follow_up(opened.output)
