"""Sync the example templates four ways in one run: a dry run, a real sync, the same again
(a no-op), and a pruning sync."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from airflow_provider_smtp2go.operators.templates import Smtp2goSyncTemplatesOperator

try:
    from airflow.sdk import DAG
except ImportError:
    from airflow import DAG

FOLDER = Path(__file__).resolve().parents[3] / "example_dags" / "templates" / "smtp2go"

with DAG("smtp2go_test_sync_templates", schedule=None, start_date=datetime(2025, 1, 1), catchup=False) as dag:
    plan = Smtp2goSyncTemplatesOperator(task_id="plan", folder=FOLDER)
    sync = Smtp2goSyncTemplatesOperator(task_id="sync", folder=FOLDER, dry_run=False)
    again = Smtp2goSyncTemplatesOperator(task_id="again", folder=FOLDER, dry_run=False)
    prune = Smtp2goSyncTemplatesOperator(task_id="prune", folder=FOLDER, dry_run=False, prune=True)
    plan >> sync >> again >> prune
