"""Recording many webhook events in one transaction (the receiver's group commit), against a real DB.

The writer hands :func:`record_posts` every post that waited while the previous transaction
committed, so one call often records dozens of events of one asset.  What must hold:

* each event is one asset event, in order, with its own ``extra``;
* the DAG scheduled on the asset gets one queue entry, and the run the scheduler makes from
  it consumes **every** event of the batch: the scheduler takes the events whose
  ``timestamp`` is at or before the queue entry's ``created_at``
  (``SchedulerJobRunner._create_dag_runs_asset_triggered``), so no event of the batch may be
  younger than that entry;
* with a listener plugin watching assets, every event is announced to it.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from conftest import sql_statements, sync_test_dag

from airflow_provider_smtp2go._compat import AIRFLOW_V_3_1_PLUS

pytestmark = pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="the receiver needs Airflow 3.1+")

BOUNCE_DAG = "smtp2go_test_webhook_bounces"
URI = "smtp2go://default/hard-bounced"


def _bounce(i: int) -> Any:
    from airflow_provider_smtp2go.client.activity import ActivityEvent

    when = datetime(2026, 11, 26, 10, 0, i % 60, tzinfo=timezone.utc).isoformat()
    return ActivityEvent.from_api(
        {"email_id": f"1batch-{i:04d}", "event": "hard-bounced", "date": when, "recipient": f"user{i}@example.com"}
    )


@pytest.fixture
def scheduled_dag(no_webhook_events: None) -> Iterator[str]:
    """The test DAG scheduled on the hard-bounce asset, parsed into the DB and unpaused."""
    sync_test_dag(BOUNCE_DAG)
    yield BOUNCE_DAG


def _stored() -> tuple[list[tuple[int, datetime, dict[str, Any]]], list[tuple[str, datetime]]]:
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.execute(
            select(AssetEvent.id, AssetEvent.timestamp, AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == URI)
            .order_by(AssetEvent.id)
        ).all()
        queued = session.execute(select(AssetDagRunQueue.target_dag_id, AssetDagRunQueue.created_at)).all()
    return [tuple(row) for row in events], [tuple(row) for row in queued]  # type: ignore[misc]


def test_a_batch_is_one_queue_entry_whose_run_consumes_every_event(scheduled_dag: str) -> None:
    from airflow_provider_smtp2go.webhooks.assets import record_posts

    posts = [("default", [_bounce(i)]) for i in range(12)] + [("default", [_bounce(0)])]  # the last: a duplicate
    with sql_statements() as sent:
        recorded = record_posts(posts)

    assert [(r.created, r.duplicates) for r in recorded] == [(1, 0)] * 12 + [(0, 1)]
    events, queued = _stored()
    assert [extra["recipient"] for _, _, extra in events] == [f"user{i}@example.com" for i in range(12)]
    assert [r.asset_event_ids[0] for r in recorded[:12]] == [event_id for event_id, _, _ in events]
    # One multi-row INSERT for the first eleven (SQLAlchemy sends SQLite one per row when the
    # RETURNING rows must come in parameter order), one through register_asset_change.
    assert sum(s.lstrip().upper().startswith("INSERT INTO ASSET_EVENT ") for s in sent) == 2
    [(dag_id, queued_at)] = queued
    assert dag_id == scheduled_dag
    # What the scheduler's run will consume: every event at or before the queue entry.
    assert [extra["recipient"] for _, ts, extra in events if ts > queued_at] == []


def test_with_an_asset_listener_every_event_is_announced(scheduled_dag: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.listeners import hookimpl
    from airflow.listeners.listener import get_listener_manager

    from airflow_provider_smtp2go.webhooks.assets import record_posts

    announced: list[str] = []
    listener = types.ModuleType("smtp2go_test_asset_listener")
    if hasattr(get_listener_manager().pm.hook, "on_asset_event_emitted"):  # Airflow 3.2+

        @hookimpl
        def on_asset_event_emitted(asset_event: Any) -> None:
            announced.append(asset_event.extra["recipient"])

        listener.on_asset_event_emitted = on_asset_event_emitted  # type: ignore[attr-defined]
        expected: list[str] = [f"user{i}@example.com" for i in range(5)]
    else:  # Airflow 3.1 announces the asset, not the event

        @hookimpl
        def on_asset_changed(asset: Any) -> None:
            announced.append(asset.uri)

        listener.on_asset_changed = on_asset_changed  # type: ignore[attr-defined]
        expected = [URI] * 5
    monkeypatch.setitem(sys.modules, listener.__name__, listener)
    manager = get_listener_manager()
    manager.add_listener(listener)
    try:
        record_posts([("default", [_bounce(i)]) for i in range(5)])
    finally:
        manager.pm.unregister(listener)
    assert announced == expected
    assert len(_stored()[0]) == 5


def test_a_batch_claims_its_receipts_in_key_order(no_webhook_events: None) -> None:
    """Two replicas claiming overlapping keys then lock them in one order: no deadlock, one waits and retries."""
    from airflow_provider_smtp2go.webhooks.assets import record_posts
    from airflow_provider_smtp2go.webhooks.dedupe import TABLE_NAME, dedupe_key

    bounces = [_bounce(i) for i in range(20)]
    keys = {dedupe_key("default", ev) for ev in bounces}
    assert [dedupe_key("default", ev) for ev in bounces] != sorted(keys)  # the posts' order is not the keys'
    rows: list[tuple[str, list[Any]]] = []
    with sql_statements(rows):
        record_posts([("default", [ev]) for ev in bounces])
    insert = f"INSERT INTO {TABLE_NAME.upper()} "
    claimed = [
        value
        for statement, params in rows
        if statement.lstrip().upper().startswith(insert)
        for row in params
        for value in (row.values() if isinstance(row, dict) else row)
        if value in keys
    ]
    assert claimed == sorted(keys)
