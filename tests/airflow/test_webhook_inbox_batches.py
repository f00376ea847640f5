"""The receiver's group commit files a whole batch in the webhook inbox at once, against a real DB.

:func:`~airflow_provider_smtp2go.webhooks.assets.record_posts` hands every new event of a
batch to :func:`~airflow_provider_smtp2go.webhooks.inbox.remember_many`, which must

* keep the newest event per (type, email id) when a batch holds several, in any order, and
  when the stored entry is newer than everything in the batch;
* cost one read and one upsert of the state store per batch, not two statements per event;
* write rows that Airflow's own Execution API route (what a trigger's read becomes) returns.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import activate_assets, sql_statements

from airflow_provider_smtp2go._compat import AIRFLOW_VERSION
from airflow_provider_smtp2go.client.activity import ActivityEvent
from airflow_provider_smtp2go.webhooks import inbox

pytestmark = pytest.mark.skipif(AIRFLOW_VERSION < (3, 3, 0), reason="the asset state store is Airflow 3.3+")

WHEN = datetime(2026, 11, 26, 10, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def _clean_db(airflow_db: Path) -> Iterator[None]:
    """Leave no asset events, receipts or inbox entries: other files count them from zero."""
    yield
    from airflow.models.asset import AssetDagRunQueue, AssetEvent
    from airflow.models.asset_state_store import AssetStateStoreModel
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    from airflow_provider_smtp2go.webhooks.dedupe import _created, receipts

    with create_session() as session:
        for table in (AssetEvent, AssetDagRunQueue, AssetStateStoreModel):
            session.execute(delete(table))
        if _created:
            session.execute(delete(receipts))


def _event(email_id: str, event: str, minutes: int) -> ActivityEvent:
    when = (WHEN + timedelta(minutes=minutes)).isoformat()
    return ActivityEvent.from_api({"email_id": email_id, "event": event, "date": when, "recipient": "jo@example.com"})


def _read(uri: str, email_id: str) -> Any:
    """The inbox entry as a trigger gets it: Airflow's ``get_asset_state_store_by_uri`` route on the DB."""
    from airflow.api_fastapi.execution_api.routes.asset_state_store import get_asset_state_store_by_uri
    from airflow.utils.session import create_session

    with create_session() as session:
        return get_asset_state_store_by_uri(uri=uri, key=inbox.inbox_key(email_id), session=session).value


def test_a_batch_with_several_events_per_email_keeps_the_newest(airflow_db: Path) -> None:
    from airflow_provider_smtp2go.webhooks.assets import record_posts

    activate_assets("smtp2go://default/opened", "smtp2go://default/delivered")
    run = uuid.uuid4().hex[:8]
    shuffled, stale = f"ib-{run}-1", f"ib-{run}-2"
    record_posts([("default", [_event(stale, "opened", 10)])])  # an earlier batch filed a newer one

    batch = [
        ("default", [_event(shuffled, "opened", 3)]),
        ("default", [_event(shuffled, "opened", 5)]),  # the newest, neither first nor last
        ("default", [_event(shuffled, "opened", 1), _event(shuffled, "delivered", 0)]),
        ("default", [_event(stale, "opened", 1)]),
        ("default", [_event(shuffled, "opened", 4)]),
    ]
    recorded = record_posts(batch)

    assert [r.created for r in recorded] == [1, 1, 2, 1, 1]  # every one is still an asset event
    opened = _read("smtp2go://default/opened", shuffled)
    assert opened["date"] == _event(shuffled, "opened", 5).date.isoformat()
    assert opened["email_id"] == shuffled and opened["recipient"] == "jo@example.com"
    assert _read("smtp2go://default/delivered", shuffled)["event"] == "delivered"  # its own type, its own entry
    assert _read("smtp2go://default/opened", stale)["date"] == _event(stale, "opened", 10).date.isoformat()


def _inbox_statements(count: int) -> int:
    """The state-store statements of one batch of ``count`` new events of two types."""
    from airflow_provider_smtp2go.webhooks.assets import record_posts

    run = uuid.uuid4().hex[:8]
    posts = [("default", [_event(f"ic-{run}-{i}", ("opened", "delivered")[i % 2], i % 7)]) for i in range(count)]
    with sql_statements() as sent:
        recorded = record_posts(posts)
    assert sum(r.created for r in recorded) == count
    return sum("asset_state_store" in s for s in sent)


def test_one_batch_costs_a_bounded_number_of_statements(airflow_db: Path) -> None:
    activate_assets("smtp2go://default/opened", "smtp2go://default/delivered")
    _inbox_statements(2)  # both assets exist from here on

    small, large = _inbox_statements(4), _inbox_statements(60)

    assert large <= 2, f"{large} state-store statements for one batch of 60: one read and one upsert expected"
    assert large == small  # O(1) per batch, not O(events)


def test_remember_many_leaves_a_newer_stored_entry_and_replaces_an_unreadable_one(airflow_db: Path) -> None:
    import sqlalchemy as sa
    from airflow.models.asset import AssetModel
    from airflow.models.asset_state_store import AssetStateStoreModel
    from airflow.utils.session import create_session

    activate_assets("smtp2go://default/clicked")
    run = uuid.uuid4().hex[:8]
    newer, garbled = f"iu-{run}-1", f"iu-{run}-2"
    with create_session() as session:
        asset_id = session.scalar(sa.select(AssetModel.id).where(AssetModel.uri == "smtp2go://default/clicked"))
        assert asset_id is not None
        assert inbox.remember_many(session, [(asset_id, _event(newer, "clicked", 9))]) == 1
        session.add(AssetStateStoreModel(asset_id=asset_id, key=inbox.inbox_key(garbled), value="not json"))
    with create_session() as session:
        written = inbox.remember_many(
            session, [(asset_id, _event(newer, "clicked", 2)), (asset_id, _event(garbled, "clicked", 2))]
        )
    assert written == 1
    assert _read("smtp2go://default/clicked", newer)["date"] == _event(newer, "clicked", 9).date.isoformat()
    assert _read("smtp2go://default/clicked", garbled)["date"] == _event(garbled, "clicked", 2).date.isoformat()


def test_the_read_of_stored_entries_searches_the_primary_key(airflow_db: Path) -> None:
    """A row-value ``IN`` made SQLite scan the whole store once per batch (slower as it grew)."""
    from airflow import settings
    from airflow.utils.session import create_session

    activate_assets("smtp2go://default/opened", "smtp2go://default/delivered")
    _inbox_statements(2)
    with sql_statements() as sent:
        _inbox_statements(6)
    [read] = [s for s in sent if s.lstrip().upper().startswith("SELECT") and "asset_state_store" in s]
    assert settings.engine is not None
    if settings.engine.dialect.name != "sqlite":
        pytest.skip("the query plan is checked on SQLite, the database that scanned")
    with create_session() as session:
        plan = session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {read}", (0,) * read.count("?")).all()
    assert not [row for row in plan if "SCAN asset_state_store" in str(row[-1])], plan
