"""Templates as code: check the repo's SMTP2GO templates, sync them, send with one.

What it shows:

* ``templates/smtp2go/`` holds one folder per template (subject, HTML and text bodies, sample
  variables; see ``airflow_provider_smtp2go.templates.folder``);
* ``check_templates`` renders each with its sample data exactly as the sandbox renders a send
  and fails on a variable used but not declared, or declared but never used (CI can run the
  same check: ``python -m airflow_provider_smtp2go.templates preview example_dags/templates/smtp2go``);
* ``Smtp2goSyncTemplatesOperator`` creates and updates them in SMTP2GO, logging a diff. It is a
  dry run unless told ``dry_run=False``, and never deletes (``prune=False``);
* ``Smtp2goSendEmailOperator`` sends with ``template_id`` and this order's ``template_data``.

Needs an ``smtp2go_default`` connection with the API key as password and a default ``sender`` extra.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

try:  # Airflow 3
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_smtp2go.operators.smtp2go import Smtp2goSendEmailOperator
from airflow_provider_smtp2go.operators.templates import Smtp2goSyncTemplatesOperator
from airflow_provider_smtp2go.templates.preview import preview_folder

TEMPLATES = Path(__file__).parent / "templates" / "smtp2go"

with DAG(
    dag_id="example_smtp2go_templates",
    description="Sync SMTP2GO templates from the repository, then send with one",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example", "smtp2go"],
) as dag:

    @task
    def check_templates() -> list[str]:
        """Fail before anything ships if a template's variables do not add up."""
        previews = preview_folder(TEMPLATES)
        problems = [problem for preview in previews for problem in preview.problems]
        if problems:
            raise ValueError("; ".join(problems))
        return [preview.name for preview in previews]

    sync = Smtp2goSyncTemplatesOperator(task_id="sync_templates", folder=TEMPLATES, dry_run=False)
    send = Smtp2goSendEmailOperator(
        task_id="send_receipt",
        to="customer@example.com",
        template_id="order-receipt",
        template_data={"customer_name": "Grace", "order_id": "B-2002", "total": "EUR 17.50"},
    )
    check_templates() >> sync >> send
