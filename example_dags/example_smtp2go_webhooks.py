"""SMTP2GO webhooks into Airflow: register the webhook, then suppress every hard-bounced address.

Two DAGs:

* ``example_smtp2go_webhook_setup`` (manual, run once and again after any change): an
  ``Smtp2goEnsureWebhookOperator`` makes SMTP2GO post bounces, spam complaints and
  unsubscribes to the receiver the provider's api-server plugin mounts at
  ``/smtp2go/webhooks`` (Airflow 3.1+).  The secret SMTP2GO sends is the Password of
  connection ``smtp2go_webhook``, the one the receiver checks.  Rerunning is safe: it reports
  ``unchanged`` when the webhook already matches.
* ``example_smtp2go_suppress_hard_bounces``: scheduled on the asset
  ``smtp2go://default/hard-bounced``, which the receiver updates for each new hard bounce.
  It adds every bounced address to the account's suppression list through the hook.  Started
  by hand, it suppresses the addresses in ``conf["recipients"]`` instead (a replay, e.g. of
  bounces that arrived while the receiver was down longer than SMTP2GO retries).

Settings: ``SMTP2GO_EXAMPLE_WEBHOOK_URL`` is the receiver's public URL (the api-server behind a
TLS reverse proxy).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import datetime
from typing import Any

try:  # Airflow 3
    from airflow.sdk import DAG, task
except ImportError:  # Airflow 2.11
    from airflow import DAG
    from airflow.decorators import task

from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goHook
from airflow_provider_smtp2go.operators.webhooks import Smtp2goEnsureWebhookOperator
from airflow_provider_smtp2go.webhooks.assets import webhook_asset

WEBHOOK_URL = os.environ.get("SMTP2GO_EXAMPLE_WEBHOOK_URL", "https://airflow.example.com/smtp2go/webhooks/")
HARD_BOUNCES = webhook_asset("hard-bounced")

with DAG(
    dag_id="example_smtp2go_webhook_setup",
    description="Register (or update) the account's SMTP2GO webhook",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example", "smtp2go"],
) as setup_dag:
    Smtp2goEnsureWebhookOperator(
        task_id="ensure_webhook",
        url=WEBHOOK_URL,
        events=["bounce", "spam", "unsubscribe"],
        webhook_conn_id="smtp2go_webhook",
    )


def bounced_addresses(extras: Iterable[dict[str, Any]]) -> list[str]:
    """The recipients of hard-bounce events, each once, in arrival order.

    >>> bounced_addresses([{"recipient": "a@example.com"}, {"recipient": "A@example.com"}, {}])
    ['a@example.com']
    """
    seen: dict[str, str] = {}
    for extra in extras:
        address = str(extra.get("recipient") or "").strip()
        if address:
            seen.setdefault(address.lower(), address)
    return list(seen.values())


with DAG(
    dag_id="example_smtp2go_suppress_hard_bounces",
    description="Suppress every address SMTP2GO reports as hard-bounced (webhook asset)",
    schedule=[HARD_BOUNCES],
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example", "smtp2go"],
) as suppress_dag:

    @task
    def suppress(triggering_asset_events: Any = None, dag_run: Any = None) -> dict[str, Any]:
        # Matched by URI, not by a lookup with the Asset as key: Airflow 3.1 cannot hash an Asset.
        extras = [
            event.extra
            for asset, events in (triggering_asset_events or {}).items()
            if getattr(asset, "uri", None) == HARD_BOUNCES.uri
            for event in events
        ]
        extras += [{"recipient": r} for r in ((dag_run.conf or {}).get("recipients") or [])] if dag_run else []
        addresses = bounced_addresses(extras)
        with Smtp2goHook() as hook:
            client = hook.get_client()
            for address in addresses:
                client.add_suppression(address, block_description="hard bounce (SMTP2GO webhook)")
        return {"suppressed": addresses}

    suppress()
