"""Deferred sensors across two triggerers: send N emails, then wait for each to be opened.

One task sends the emails (``conf["emails"]``, default 100); a mapped, deferrable
``Smtp2goActivitySensor`` then waits for each to be opened. The recipients open 600 s (sandbox
time) after delivery; the test brings the opens forward by advancing the sandbox clock. Run by
``tests/e2e_distributed/test_sensors_across_triggerers.py``.

The sensors are plain deferrable ``Smtp2goActivitySensor`` tasks, which defer without a worker
poke (the default since issue 15). Every worker task is its own process with its own share of
the 60 calls a minute, so 100 sensors that each poked first made 100 searches from 100
processes, which no per-process share bounds (measured before: 155 calls while they deferred,
20 answered 429). Deferred at once, their only calls are the triggerers' shared polls, and
resuming costs none (the trigger event carries the full events sealed with the Fernet key).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_smtp2go.sensors.smtp2go import Smtp2goActivitySensor

POLL_INTERVAL = 5.0


with DAG(
    dag_id="smtp2go_dist_wait_for_opens",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    is_paused_upon_creation=False,
    params={"emails": 100, "tag": "s"},
    max_active_tasks=64,
    tags=["smtp2go", "e2e", "distributed"],
) as dag:

    @task
    def send_all(**context: Any) -> list[str]:
        """One task sends them all (a mapped send per email would only add worker load)."""
        from airflow_provider_smtp2go.client.messages import Email
        from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goHook

        hook = Smtp2goHook()
        client, sender = hook.get_client(), hook.get_settings().sender
        tag, count = context["params"]["tag"], context["params"]["emails"]
        ids = []
        for i in range(count):
            email = Email(sender=sender, to=f"{tag}{i:03d}+open-600s@example.com", subject="News", text_body="Hi")
            ids.append(client.send(email).email_id)
        return ids

    wait_opened = Smtp2goActivitySensor.partial(
        task_id="wait_opened",
        event_types=["opened"],
        deferrable=True,
        poke_interval=POLL_INTERVAL,
        timeout=timedelta(minutes=15),
    ).expand(email_ids=send_all())
