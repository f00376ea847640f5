"""Build a daily CSV report, email it through SMTP2GO, and alert on-call if anything fails.

What it shows:

* ``Smtp2goSendEmailOperator`` with a templated subject, an HTML body from a Jinja file
  (``templates/smtp2go_report.html``), a custom header and an attachment handed over from
  another task through object storage (``ObjectStoragePath``; on Airflow 3 workers do not
  share a disk, so a local path would not do);
* ``send_smtp2go_notification`` as the ``on_failure_callback`` of every task.

Needs an ``smtp2go_default`` connection with the API key as password and a default ``sender``
extra. ``SMTP2GO_EXAMPLE_STORAGE`` (default ``file:///tmp/smtp2go-example``) says where the
report is written: use ``s3://bucket/prefix`` or similar in a real deployment.
"""

from __future__ import annotations

import csv
import io
import os
import random
from datetime import datetime
from pathlib import Path

try:  # Airflow 3
    from airflow.sdk import DAG, ObjectStoragePath, task
except ImportError:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task
    from airflow.io.path import ObjectStoragePath

from airflow_provider_smtp2go.notifications.smtp2go import send_smtp2go_notification
from airflow_provider_smtp2go.operators.smtp2go import Smtp2goSendEmailOperator

STORAGE = os.environ.get("SMTP2GO_EXAMPLE_STORAGE", "file:///tmp/smtp2go-example")
REGIONS = ("north", "south", "east", "west")

with DAG(
    dag_id="example_smtp2go_report",
    description="Daily sales report by email through SMTP2GO",
    schedule="@daily",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={"recipients": "reports@example.com", "alerts_to": "oncall@example.com"},
    template_searchpath=[str(Path(__file__).parent / "templates")],
    default_args={
        "retries": 1,
        "on_failure_callback": send_smtp2go_notification(to="{{ params.alerts_to }}"),
    },
    tags=["example", "smtp2go"],
) as dag:

    @task
    def build_report(ds: str | None = None) -> dict[str, object]:
        """Write the day's figures as CSV to object storage; return where, and a summary."""
        rng = random.Random(ds)  # the same day always gives the same report
        rows = [(region, rng.randint(10, 500)) for region in REGIONS]
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["region", "orders"])
        writer.writerows(rows)

        folder = ObjectStoragePath(STORAGE)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"sales-{ds}.csv"
        path.write_text(buffer.getvalue())
        return {"path": str(path), "rows": len(rows), "total": sum(n for _, n in rows), "best": max(rows)[0]}

    send_report = Smtp2goSendEmailOperator(
        task_id="send_report",
        to="{{ params.recipients }}",
        subject="Daily sales report for {{ ds }}",
        html_body="smtp2go_report.html",
        text_body=(
            "Sales report for {{ ds }}: {{ ti.xcom_pull(task_ids='build_report')['total'] }} orders. CSV attached."
        ),
        attachments=["{{ ti.xcom_pull(task_ids='build_report')['path'] }}"],
        custom_headers={"X-Report-Date": "{{ ds }}"},
    )

    build_report() >> send_report
