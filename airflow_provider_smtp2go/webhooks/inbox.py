"""The webhook inbox: the newest webhook event per (account, event type, email id), where triggers read it.

Why this mechanism. A deferred sensor waits in the triggerer, and Airflow 3 gives trigger
code no database session (triggers run in a subprocess that talks to the triggerer's
supervisor, which talks to the Execution API). What a trigger *can* read there, on Airflow
3.3+, is the **asset state store**: ``AssetStateStoreAccessor(uri=...).aget(key)`` sends
``GetAssetStateStoreByUri`` to the supervisor, which answers from the Execution API
(``/execution/state-store/asset/by-uri/value``).  So the receiver, in the **same
transaction** as the asset event and its dedupe receipt (:func:`remember`), writes each
event under the asset of its type, ``smtp2go://<account>/<event type>``, keyed by
``email_id``; the trigger reads those keys each interval (:func:`read_events`) and feeds the
events to the same :func:`~airflow_provider_smtp2go.activity_watch.conditions.evaluate` as
polling.  No SMTP2GO call, no new credentials, no new endpoint in the api-server.

Rejected: the receipt table (reading it from a trigger needs a DB session, which Airflow 3
withholds from triggers); an HTTP read endpoint on the receiver (it works on 3.1+, but needs
its own auth secret and the api-server's URL in every trigger, and is one more public route).

Limits, said plainly:

* Airflow **3.3+** only (the state store is new in 3.3).  On 3.1/3.2 the receiver still
  records asset events (DAG-level path) but writes no inbox; ``source="webhook"`` is refused.
* The state store's Execution API routes find an asset only while it is **active** (declared
  by some DAG).  The sensor declares its watched event types as inlets
  (:func:`~.assets.webhook_asset`), which makes the dag-processor mark them active.
* One value per key: the newest event of that type for that email (a race between two
  replicas keeps one of the two, both of that type).  ``open``/``click`` repeats overwrite.
* With a custom state backend (not the metastore) the write is not in the asset event's
  transaction; UNVERIFIED beyond the metastore backend.

>>> inbox_key("1u0SwL-B9zBpi9ffUq-JAB2")
'email:1u0SwL-B9zBpi9ffUq-JAB2'
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from airflow_provider_smtp2go._compat import AIRFLOW_VERSION
from airflow_provider_smtp2go.client.activity import ActivityEvent, parse_api_datetime
from airflow_provider_smtp2go.webhooks.assets import asset_uri

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

#: The first Airflow whose triggers can read the asset state store.
NEEDS_VERSION = (3, 3, 0)
AVAILABLE = AIRFLOW_VERSION >= NEEDS_VERSION
"""True when this Airflow has the asset state store (the webhook source works)."""


def unavailable_reason(option: str = "source='webhook'") -> str | None:
    """Why ``option`` cannot be used on this Airflow (one sentence for errors and logs), or None."""
    if AVAILABLE:
        return None
    have = ".".join(map(str, AIRFLOW_VERSION))
    return (
        f"{option} needs Airflow 3.3 or newer (the asset state store, which triggers read webhook "
        f"events from); this is Airflow {have}"
    )


def inbox_key(email_id: str) -> str:
    """The state-store key of one email's newest event of an asset's type."""
    return f"email:{email_id}"


def remember(session: Session, asset_id: int, event: ActivityEvent) -> None:
    """Record ``event`` as the newest of its type for its email, in the caller's transaction.

    Keeps the stored event when it is newer (webhooks arrive out of order).
    """
    from airflow._shared.state import AssetScope  # noqa: PLC0415  (Airflow 3.3+ only)
    from airflow.state import get_state_backend  # noqa: PLC0415

    backend = get_state_backend()
    scope = AssetScope(asset_id=asset_id)
    key = inbox_key(event.email_id)
    stored = backend.get(scope, key, session=session)
    if stored is not None:
        try:
            if parse_api_datetime(str(json.loads(stored)["date"])) > event.date:
                return
        except (ValueError, KeyError, TypeError):
            pass  # an unreadable value is replaced
    backend.set(scope, key, json.dumps(event.to_dict()), session=session)


async def read_events(account: str, email_ids: Iterable[str], event_types: Iterable[str]) -> list[ActivityEvent]:
    """The inbox's events for ``email_ids`` of ``event_types``, read through the triggerer's supervisor.

    One state-store read per (id, type), sent together; a key or asset not there yet reads as nothing.
    """
    from airflow.sdk.execution_time.context import AssetStateStoreAccessor  # noqa: PLC0415

    keys = [(asset_uri(t, account), inbox_key(i)) for i in email_ids for t in event_types]
    # The triggerer's comms answer requests by id, so the reads of one wait go out together.
    values: list[Any] = await asyncio.gather(*(AssetStateStoreAccessor(uri=uri).aget(key) for uri, key in keys))
    return [ActivityEvent.from_api(v) for v in values if isinstance(v, dict)]


def read_events_now(account: str, email_ids: Iterable[str], event_types: Iterable[str]) -> list[ActivityEvent]:
    """:func:`read_events` for a poking task (through the task's supervisor, synchronously)."""
    from airflow.sdk.execution_time.context import AssetStateStoreAccessor  # noqa: PLC0415

    events: list[ActivityEvent] = []
    types = list(event_types)
    for email_id in email_ids:
        for event_type in types:
            value: Any = AssetStateStoreAccessor(uri=asset_uri(event_type, account)).get(inbox_key(email_id))
            if isinstance(value, dict):
                events.append(ActivityEvent.from_api(value))
    return events
