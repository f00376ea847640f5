"""Durable dedupe of webhook events: one receipt row per event, keyed by a unique primary key.

SMTP2GO delivers at least once (it retries for days and documents no idempotency key), and
Airflow inserts a new asset event for every ``register_asset_change`` (there is no dedupe of
asset events).  So the receiver claims each event before recording it:

* **the key** (:func:`dedupe_key`) is a SHA-256 of (account, ``email_id``, activity event
  type, recipient, event time to the second).  The post's ``id`` is left out: it differs per
  callback and whether a retry keeps it is UNVERIFIED.  The same tuple identifies the event in
  ``/activity/search``, so a poller that fills webhook gaps can use the same key;
* **the claim** is an ``INSERT`` into ``smtp2go_webhook_receipt`` (primary key = the key) in
  the *same transaction* as the asset event.  The database's unique check decides between
  concurrent api-server replicas: the loser's insert fails (or waits for the winner's commit,
  on Postgres/MySQL), so exactly one asset event exists per key, and a rolled-back attempt
  leaves neither receipt nor asset event behind, so SMTP2GO's retry records it later.

Why a table of our own rather than the asset event's ``extra``: Airflow's ``asset_event``
table has no unique constraint and ``extra`` is an unindexed JSON column, so a
check-then-insert on ``extra`` is racy across replicas (two can both see "absent") unless
every ingest locks the asset row, and its lookup scans every event of the asset (it grows
without bound).  A primary key makes the check atomic and O(log n).  Variables and XCom
are not for this (no unique insert, XCom needs a task instance).

The table is created through Airflow's own DB session and engine on first use
(``CREATE TABLE IF NOT EXISTS``), lives in the metadata database next to Airflow's tables,
is not part of Airflow's migrations (``airflow db reset`` leaves it; drop it with
``DROP TABLE smtp2go_webhook_receipt``), and is pruned by the receiver: rows older than
:data:`RETENTION` (longer than SMTP2GO's ~4-day retry window) are deleted now and then.

Example::

    >>> from datetime import datetime, timezone
    >>> from airflow_provider_smtp2go.client.activity import ActivityEvent
    >>> when = datetime(2026, 11, 26, tzinfo=timezone.utc)
    >>> ev = ActivityEvent("1u0SwL-B9zBpi9ffUq-JAB2", "hard-bounced", when, "a@x.io")
    >>> dedupe_key("default", ev)[:16]
    '40f71792f6f6752d'
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

import sqlalchemy as sa

from airflow_provider_smtp2go.client.activity import ActivityEvent

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

TABLE_NAME = "smtp2go_webhook_receipt"
RETENTION = timedelta(days=7)
"""How long a receipt is kept: SMTP2GO retries for about 4 days (UNVERIFIED), plus margin."""
PRUNE_EVERY = 1000
"""Prune once per this many claims (per process)."""

_metadata = sa.MetaData()
receipts = sa.Table(
    TABLE_NAME,
    _metadata,
    sa.Column("dedupe_key", sa.String(64), primary_key=True),
    sa.Column("account", sa.String(64), nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("email_id", sa.String(250), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False, index=True),
)
"""One row per event ever recorded (within :data:`RETENTION`)."""

_created: set[str] = set()
_created_lock = threading.Lock()
_claims = 0


def dedupe_key(account: str, event: ActivityEvent) -> str:
    """The identity of one event, the same whether it came by webhook or by polling."""
    moment = event.date.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = (account, event.email_id, event.event, (event.recipient or "").lower(), moment)
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def ensure_table(session: Session) -> None:
    """Create the receipt table if this database lacks it (once per process and database)."""
    bind = session.get_bind()
    url = str(bind.engine.url)
    if url in _created:
        return
    with _created_lock:
        if url not in _created:
            # A separate connection: DDL inside the caller's transaction would commit it on MySQL.
            receipts.create(bind.engine, checkfirst=True)
            _created.add(url)


def seen(session: Session, keys: Iterable[str]) -> set[str]:
    """The keys among ``keys`` that already have a receipt."""
    wanted = list(keys)
    if not wanted:
        return set()
    rows = session.execute(sa.select(receipts.c.dedupe_key).where(receipts.c.dedupe_key.in_(wanted)))
    return {row[0] for row in rows}


def claim(session: Session, account: str, keyed: Iterable[tuple[str, ActivityEvent]]) -> None:
    """Insert receipts for new events in the caller's transaction.

    A key inserted meanwhile by another replica makes the flush raise ``IntegrityError``: the
    caller rolls back and tries again (it will then see the key in :func:`seen`).
    """
    global _claims  # noqa: PLW0603  (a per-process counter, for pruning now and then)
    now = datetime.now(timezone.utc)
    # In key order: two replicas claiming overlapping keys then wait on each other in one order
    # (the later gets IntegrityError and retries) and never deadlock.
    rows = [
        {"dedupe_key": key, "account": account, "event": ev.event, "email_id": ev.email_id[:250], "received_at": now}
        for key, ev in sorted(keyed, key=lambda item: item[0])
    ]
    if not rows:
        return
    session.execute(sa.insert(receipts), rows)
    _claims += len(rows)
    if _claims >= PRUNE_EVERY:
        _claims = 0
        prune(session, now - RETENTION)


def prune(session: Session, before: datetime) -> int:
    """Delete receipts older than ``before``; returns how many went."""
    result = session.execute(sa.delete(receipts).where(receipts.c.received_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
