"""End-to-end DAG: a run that outlives its Deadline Alert, which emails through SMTP2GO.

The deadline is 3 s after the run is queued; the task takes longer (``SMTP2GO_E2E_SLOW_TASK``
seconds, default 30), so the scheduler marks the deadline missed and the triggerer runs the
``AsyncCallback``: ``await Smtp2goNotifier(to=..., context=...)``, i.e. the notifier's
``async_notify``. Run by ``tests/e2e/test_deadline_alert.py``.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta

from airflow.sdk import DAG, AsyncCallback, DeadlineAlert, DeadlineReference, task

from airflow_provider_smtp2go.notifications.smtp2go import Smtp2goNotifier

SLOW_TASK_SECONDS = float(os.environ.get("SMTP2GO_E2E_SLOW_TASK", "30"))

with DAG(
    dag_id="smtp2go_e2e_deadline_alert",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    is_paused_upon_creation=False,
    tags=["smtp2go", "e2e"],
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(seconds=3),
        callback=AsyncCallback(Smtp2goNotifier, kwargs={"to": "oncall+deadline@example.com"}),
    ),
) as dag:

    @task
    def slow_load() -> None:
        """Outlives the deadline."""
        time.sleep(SLOW_TASK_SECONDS)

    slow_load()
