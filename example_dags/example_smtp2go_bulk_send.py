"""Mail every customer their own invoice link from one task, then summarise the run.

What it shows:

* an upstream task producing the recipients (here generated; in real life a query result);
* ``Smtp2goBulkSendOperator`` rendering a personalised subject and HTML/text bodies per row,
  with bounded concurrency, an hourly rate cap and a per-row report in object storage;
* a downstream task reading the compact summary from XCom (counts, failures, report location).

Re-running or retrying the send task never mails a customer twice: progress is kept per row
(in the task state store on Airflow 3.3+, else in a ledger next to the report).

Needs an ``smtp2go_default`` connection (API key as password, a default ``sender`` extra).
``SMTP2GO_EXAMPLE_STORAGE`` (default ``file:///tmp/smtp2go-example``) says where reports go;
``SMTP2GO_EXAMPLE_CUSTOMERS`` (default 250) how many customers to mail.
"""

from __future__ import annotations

import os
from datetime import datetime

try:  # Airflow 3
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_smtp2go.operators.bulk import Smtp2goBulkSendOperator

STORAGE = os.environ.get("SMTP2GO_EXAMPLE_STORAGE", "file:///tmp/smtp2go-example")
CUSTOMERS = int(os.environ.get("SMTP2GO_EXAMPLE_CUSTOMERS", "250"))

with DAG(
    dag_id="example_smtp2go_bulk_send",
    description="Personalised invoice emails to every customer, once each",
    schedule="@monthly",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    default_args={"retries": 2},
    tags=["example", "smtp2go"],
) as dag:

    @task
    def fetch_customers(ds: str | None = None) -> list[dict[str, object]]:
        """Who gets an invoice this month (a database query in a real DAG)."""
        return [
            {
                "email": f"customer{i}@example.com",
                "name": f"Customer {i}",
                "invoice_no": f"{ds}-{i:05d}",
                "amount": f"{(i * 37) % 500 + 10}.00",
                "url": f"https://billing.example.com/invoices/{ds}-{i:05d}",
            }
            for i in range(CUSTOMERS)
        ]

    send_invoices = Smtp2goBulkSendOperator(
        task_id="send_invoices",
        rows=fetch_customers(),
        subject="Your invoice {{ invoice_no }}",
        text_body="Hello {{ name }},\n\nyour invoice {{ invoice_no }} for EUR {{ amount }} is ready: {{ url }}\n",
        html_body=(
            "<p>Hello {{ name }},</p><p>your invoice <b>{{ invoice_no }}</b> for EUR {{ amount }} is "
            "<a href='{{ url }}'>ready</a>.</p>"
        ),
        custom_headers={"X-Invoice": "{{ invoice_no }}"},
        on_invalid="skip",
        concurrency=16,
        max_per_hour=200_000,  # SMTP2GO's default account sending limit
        report_path=STORAGE + "/bulk/{{ dag.dag_id }}/{{ ts_nodash }}/report.csv",
        reconcile_settle_seconds=float(os.environ.get("SMTP2GO_EXAMPLE_SETTLE_SECONDS", "120")),
    )

    @task
    def summarise(summary: dict[str, object]) -> dict[str, object]:
        """What a real DAG might post to a chat channel."""
        counts = summary["counts"]
        print(f"invoices: {counts}; report at {summary['report']}")
        return {"sent": counts["sent"] + counts["already_sent"], "report": summary["report"]}  # type: ignore[index]

    summarise(send_invoices.output)
