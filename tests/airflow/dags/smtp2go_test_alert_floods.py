"""A task that fails while ``dag_run.conf["fail"]`` is true, alerting through Smtp2goNotifier.

The same notifier is the task's ``on_failure_callback`` and ``on_success_callback``, the
documented pattern for alert-on-change with a recovery email. One DAG per storm-control mode,
so the runs of one mode are not the history of another. Run by ``tests/airflow/test_alert_floods.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

try:
    from airflow.sdk import DAG, task
except ImportError:
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_smtp2go.notifications.smtp2go import Smtp2goNotifier

#: dag_id -> Smtp2goNotifier storm-control kwargs ("configured": none, [smtp2go] decides).
MODES: dict[str, dict[str, Any]] = {
    "smtp2go_test_flood_default": {},
    "smtp2go_test_flood_configured": {},
    "smtp2go_test_flood_thread": {"repeat": "thread"},
    "smtp2go_test_flood_send": {"repeat": "send"},
}

for dag_id, storm_control in MODES.items():
    alert = Smtp2goNotifier(to="oncall@example.com", **storm_control)
    with DAG(dag_id, schedule=None, start_date=datetime(2025, 1, 1), catchup=False) as dag:

        @task(retries=0, on_failure_callback=alert, on_success_callback=alert)
        def load(**context: Any) -> None:
            if context["dag_run"].conf.get("fail"):
                raise RuntimeError("the warehouse is down")

        load()
    globals()[dag_id] = dag
