"""Distributed bulk send: 2,000 rows split over 8 mapped ``Smtp2goBulkSendOperator`` tasks.

``partition_rows`` cuts the rows into 8 parts and gives each an eighth of the account's
``max_per_second``, so the parts together stay under it however many run at once. Three DAGs
differ only in where each part keeps its progress (its ledger):

* ``smtp2go_dist_bulk_state_store``: Airflow 3.3's task state store (in the metadata DB);
* ``smtp2go_dist_bulk_shared_ledger``: a ``file://`` directory every worker sees, standing in
  for object storage (``s3://...`` in production);
* ``smtp2go_dist_bulk_local_ledger``: a directory on the worker's own disk, which a retry on
  another worker cannot see (``SMTP2GO_DIST_LOCAL_DIR`` differs per worker; the DAG file is
  parsed again on the worker that runs the task, so each worker fills in its own).

Run by ``tests/e2e_distributed/test_bulk_across_workers.py``. The run's ``conf`` gives ``tag``
(makes the addresses unique per run), ``rows``, ``parts`` and ``max_per_second`` (the budget
the parts share).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_smtp2go.bulk import partition_rows
from airflow_provider_smtp2go.operators.bulk import Smtp2goBulkSendOperator

SHARED = os.environ.get("SMTP2GO_DIST_SHARED_DIR", "/nonexistent-shared")
LOCAL = os.environ.get("SMTP2GO_DIST_LOCAL_DIR", "/nonexistent-local")
#: One request at a time per part: ten a second need no more, and it keeps each part's burst to one.
CONCURRENCY = 1
LEDGERS: dict[str, dict[str, Any]] = {
    "state_store": {"progress_store": "task_state_store"},
    "shared_ledger": {"progress_store": "directory", "ledger_path": f"file://{SHARED}/ledgers"},
    "local_ledger": {"progress_store": "directory", "ledger_path": f"{LOCAL}/ledgers"},
}


def _bulk_dag(name: str, ledger: dict[str, Any]) -> DAG:
    with DAG(
        dag_id=f"smtp2go_dist_bulk_{name}",
        schedule=None,
        start_date=datetime(2025, 1, 1),
        catchup=False,
        is_paused_upon_creation=False,
        params={"tag": "x", "rows": 2000, "parts": 8, "max_per_second": 40},
        tags=["smtp2go", "e2e", "distributed"],
    ) as dag:

        @task
        def split(**context: Any) -> list[dict[str, Any]]:
            params = context["params"]
            rows = [
                {"email": f"{params['tag']}.{i:04d}@example.com", "name": f"Reader {i}"} for i in range(params["rows"])
            ]
            return partition_rows(rows, params["parts"], max_per_second=params["max_per_second"])

        Smtp2goBulkSendOperator.partial(
            task_id="send",
            subject="Your digest, {{ name }}",
            text_body="Hello {{ name }}, here is what happened this week.",
            concurrency=CONCURRENCY,
            retries=3,
            retry_delay=timedelta(seconds=3),
            reconcile_settle_seconds=2,  # the sandbox logs activity at once; SMTP2GO needs minutes
            progress_interval=5,
            # The last try's per-row report, where the test can read it whichever worker ran it.
            report_path=f"{SHARED}/reports/{name}/{{{{ run_id }}}}/part-{{{{ ti.map_index }}}}.jsonl",
            **ledger,
        ).expand_kwargs(split())
    return dag


for _name, _ledger in LEDGERS.items():
    globals()[f"dag_{_name}"] = _bulk_dag(_name, _ledger)
