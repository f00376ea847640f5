"""A campaign that runs only while the sender's reputation is healthy: gate -> bulk send -> wait -> report.

What it shows:

* ``Smtp2goDeliverabilitySensor`` reading SMTP2GO's bounce and spam rates (and the quota left
  this cycle) before anything is sent; on a breach it *skips* the campaign (``on_breach="skip"``),
  so the bulk send and everything after it do not run;
* ``Smtp2goBulkSendOperator`` mailing each subscriber once, skipping suppressed addresses up
  front and refusing an unverified sender;
* a pause for bounces and complaints to come in, then a second reading as the campaign report.

Needs an ``smtp2go_default`` connection (API key as password, a verified ``sender`` extra).
``SMTP2GO_EXAMPLE_SUBSCRIBERS`` (default 100) sets the list size, ``SMTP2GO_EXAMPLE_WAIT_SECONDS``
(default 900) the pause before the report, ``SMTP2GO_EXAMPLE_STORAGE`` where the per-row report goes.
"""

from __future__ import annotations

import os
import time
from datetime import datetime

try:  # Airflow 3
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_smtp2go.operators.bulk import Smtp2goBulkSendOperator
from airflow_provider_smtp2go.sensors.deliverability import Smtp2goDeliverabilitySensor

STORAGE = os.environ.get("SMTP2GO_EXAMPLE_STORAGE", "file:///tmp/smtp2go-example")
SUBSCRIBERS = int(os.environ.get("SMTP2GO_EXAMPLE_SUBSCRIBERS", "100"))
WAIT_SECONDS = float(os.environ.get("SMTP2GO_EXAMPLE_WAIT_SECONDS", "900"))

with DAG(
    dag_id="example_smtp2go_campaign_gate",
    description="A newsletter that stops before it burns the sender's reputation",
    schedule="@weekly",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example", "smtp2go"],
) as dag:
    gate = Smtp2goDeliverabilitySensor(
        task_id="deliverability_gate",
        max_bounce_percent=5.0,
        max_spam_percent=0.1,
        min_emails=50,
        min_cycle_remaining=SUBSCRIBERS,
        on_breach="skip",
        poke_interval=60,
        timeout=600,
    )

    @task
    def fetch_subscribers() -> list[dict[str, object]]:
        """Who gets the newsletter (a database query in a real DAG)."""
        return [{"email": f"reader{i}@example.com", "name": f"Reader {i}"} for i in range(SUBSCRIBERS)]

    send = Smtp2goBulkSendOperator(
        task_id="send_newsletter",
        rows=fetch_subscribers(),
        subject="This week's news, {{ name }}",
        text_body="Hello {{ name }},\n\nhere is what happened this week.\n",
        skip_suppressed=True,
        concurrency=8,
        report_path=STORAGE + "/campaign/{{ ts_nodash }}/report.csv",
        reconcile_settle_seconds=float(os.environ.get("SMTP2GO_EXAMPLE_SETTLE_SECONDS", "120")),
    )

    @task
    def wait_for_feedback() -> None:
        """Bounces and complaints arrive over minutes; give them time before judging the campaign."""
        time.sleep(WAIT_SECONDS)

    after = Smtp2goDeliverabilitySensor(
        task_id="campaign_report",
        max_bounce_percent=None,
        max_spam_percent=None,  # a report, not a gate: it always passes and returns the rates
        min_emails=0,
    )

    gate >> send >> wait_for_feedback() >> after
