"""End-to-end DAG: send N emails (one mapped task each), then wait for every one to be opened.

The sensors are deferrable, so they wait in the triggerer from the start, where all of
them share one ``/activity/search`` per interval. Run by ``tests/e2e/test_real_triggerer.py``
under a real scheduler + triggerer; the recipients open their email 600 s (sandbox time) after
delivery, which the test brings forward by advancing the sandbox clock.

Settings (environment variables, read when the DAG is parsed):

* ``SMTP2GO_E2E_EMAILS`` — how many emails (default 20);
* ``SMTP2GO_E2E_POLL_INTERVAL`` — sensor ``poke_interval`` in seconds (default 1).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_smtp2go.operators.smtp2go import Smtp2goSendEmailOperator
from airflow_provider_smtp2go.sensors.smtp2go import Smtp2goActivitySensor

EMAILS = int(os.environ.get("SMTP2GO_E2E_EMAILS", "20"))
POLL_INTERVAL = float(os.environ.get("SMTP2GO_E2E_POLL_INTERVAL", "1"))
#: Opens 600 s after delivery: far enough that no sensor can see it before the test moves the clock.
RECIPIENTS = [f"reader{i:02d}+open-600s@example.com" for i in range(EMAILS)]

with DAG(
    dag_id="smtp2go_e2e_wait_for_opens",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    is_paused_upon_creation=False,
    tags=["smtp2go", "e2e"],
) as dag:
    send = Smtp2goSendEmailOperator.partial(
        task_id="send",
        subject="Your weekly digest",
        text_body="Hello! Here is what happened this week.",
    ).expand(to=RECIPIENTS)

    wait_opened = Smtp2goActivitySensor.partial(
        task_id="wait_opened",
        event_types=["opened"],
        deferrable=True,
        poke_interval=POLL_INTERVAL,
        timeout=timedelta(minutes=10),
    ).expand(email_ids=send.output)

    @task
    def report(results: list[dict[str, Any]]) -> dict[str, Any]:
        """What a follow-up would act on: who opened which email."""
        opened = sorted((e["recipient"], e["email_id"]) for r in results for e in r["events"])
        return {"opened": [{"recipient": r, "email_id": i} for r, i in opened]}

    report(wait_opened.output)  # type: ignore[arg-type]  # an XComArg, resolved to the list at run time
