"""Send one email per recipient, wait until each is delivered or bounced, then handle bounces.

What it shows:

* dynamic task mapping: one ``Smtp2goSendEmailOperator`` per recipient, so each address has
  its own ``email_id``;
* one ``Smtp2goActivitySensor`` over all those ids (``match="all"``): it waits until every
  email has an outcome — ``delivered`` or a bounce — with ``failure_event_types=[]`` so a bounce
  is an answer, not an error. All ids go into one ``/activity/search`` per interval;
* a task that sorts the outcomes and alerts ops about the bounced addresses (SMTP2GO adds hard
  bounces to the suppression list itself);
* on Airflow 3, ``example_smtp2go_bounce_watcher``: a DAG started by an ``AssetWatcher`` with
  ``Smtp2goActivityEventTrigger`` for every new hard bounce on the account, whatever sent it.

Settings: ``SMTP2GO_EXAMPLE_POKE_INTERVAL``, ``SMTP2GO_EXAMPLE_DEFERRABLE`` and
``SMTP2GO_EXAMPLE_SENSOR_MODE`` as in ``example_smtp2go_wait_for_open.py``.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

try:  # Airflow 3
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_smtp2go._compat import HAS_EVENT_TRIGGERS
from airflow_provider_smtp2go.client import Email
from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goHook
from airflow_provider_smtp2go.operators.smtp2go import Smtp2goSendEmailOperator
from airflow_provider_smtp2go.sensors.smtp2go import Smtp2goActivitySensor
from airflow_provider_smtp2go.triggers.smtp2go import Smtp2goActivityEventTrigger

POKE_INTERVAL = float(os.environ.get("SMTP2GO_EXAMPLE_POKE_INTERVAL", "60"))
SENSOR_MODE = os.environ.get("SMTP2GO_EXAMPLE_SENSOR_MODE", "poke")
_deferrable = os.environ.get("SMTP2GO_EXAMPLE_DEFERRABLE")
SENSOR_ARGS: dict[str, Any] = {"poke_interval": POKE_INTERVAL, "mode": SENSOR_MODE}
if _deferrable is not None:
    SENSOR_ARGS["deferrable"] = _deferrable.strip().lower() in ("1", "true", "yes")

BOUNCES = ("hard-bounced", "soft-bounced", "rejected")

with DAG(
    dag_id="example_smtp2go_bounce_handling",
    description="Send to a list, then report and act on the addresses that bounced",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    params={
        "recipients": ["alice@example.com", "old-address+hard-bounce@example.com", "full+soft-bounce@example.com"],
        "ops": "ops@example.com",
    },
    tags=["example", "smtp2go"],
) as dag:

    @task
    def recipient_list(**context: Any) -> list[str]:
        return [str(r) for r in context["params"]["recipients"]]

    send = Smtp2goSendEmailOperator.partial(
        task_id="send_notice",
        subject="Your account notice",
        text_body="Hello, your statement is ready.",
    ).expand(to=recipient_list())

    outcomes = Smtp2goActivitySensor(
        task_id="wait_outcomes",
        email_ids=send.output,
        event_types=["delivered", *BOUNCES],
        failure_event_types=[],  # a bounce is an outcome to handle here, not a task failure
        match="all",
        timeout=timedelta(hours=6),
        **SENSOR_ARGS,
    )

    @task
    def handle_bounces(activity: dict[str, Any], ops: str) -> dict[str, Any]:
        """Split delivered from bounced and alert ops with the bounced addresses."""
        bounced = sorted({(e["recipient"], e["event"]) for e in activity["events"] if e["event"] in BOUNCES})
        delivered = sorted({e["recipient"] for e in activity["events"] if e["event"] == "delivered"})
        if bounced:
            lines = "\n".join(f"{address}: {event}" for address, event in bounced)
            with Smtp2goHook() as hook:
                hook.send_email(
                    Email(
                        sender=hook.default_sender,
                        to=[ops],
                        subject=f"{len(bounced)} address(es) bounced",
                        text_body=f"These recipients bounced and need a new address:\n{lines}",
                    )
                )
        return {"bounced": [a for a, _ in bounced], "delivered": delivered}

    handle_bounces(outcomes.output, "{{ params.ops }}")


if HAS_EVENT_TRIGGERS:  # Airflow 3: run a DAG for every hard bounce on the account
    from airflow.sdk import Asset, AssetWatcher

    hard_bounces = Asset(
        "smtp2go://activity/hard-bounced",
        watchers=[
            AssetWatcher(
                name="smtp2go_hard_bounces",
                trigger=Smtp2goActivityEventTrigger(event_types=["hard-bounced"], poll_interval=POKE_INTERVAL),
            )
        ],
    )

    with DAG(
        dag_id="example_smtp2go_bounce_watcher",
        description="Runs once per hard bounce reported by SMTP2GO",
        schedule=[hard_bounces],
        start_date=datetime(2025, 1, 1),
        catchup=False,
        tags=["example", "smtp2go"],
    ) as watcher_dag:

        @task
        def record_bounce(**context: Any) -> list[str]:
            """The triggering asset event's extra is the SMTP2GO activity event."""
            events = context["triggering_asset_events"][hard_bounces]
            return [e.extra.get("recipient", "") for e in events]

        record_bounce()
