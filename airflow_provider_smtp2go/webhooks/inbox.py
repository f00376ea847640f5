"""The webhook inbox: the newest webhook event per (account, event type, email id), where triggers read it.

Why this mechanism. A deferred sensor waits in the triggerer, and Airflow 3 gives trigger
code no database session (triggers run in a subprocess that talks to the triggerer's
supervisor, which talks to the Execution API). What a trigger *can* read there, on Airflow
3.3+, is the **asset state store**: ``AssetStateStoreAccessor(uri=...).aget(key)`` sends
``GetAssetStateStoreByUri`` to the supervisor, which answers from the Execution API
(``/execution/state-store/asset/by-uri/value``).  So the receiver, in the **same
transaction** as the asset events and their dedupe receipts (:func:`remember_many`: one
read and one upsert per batch), writes each event under the asset of its type,
``smtp2go://<account>/<event type>``, keyed by ``email_id``; the trigger reads those keys
each interval (:func:`read_events`) and feeds the events to the same
:func:`~airflow_provider_smtp2go.activity_watch.conditions.evaluate` as polling.  No SMTP2GO
call, no new credentials, no new endpoint in the api-server.

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
import functools
import json
from collections.abc import Iterable
from datetime import datetime, timezone
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


InboxEntry = tuple[int, ActivityEvent]
"""One event to file and the id of its type's asset."""

UPSERT_DIALECTS = frozenset({"postgresql", "sqlite", "mysql"})
"""Where :func:`remember_many` writes a batch in one statement (elsewhere: one backend call per event)."""

ROWS_PER_STATEMENT = 500
"""At most this many entries per read and per upsert: 2,000 bound parameters, far below every
database's limit (SQLite 32,766, PostgreSQL 65,535), so a writer batch is one read and one write."""


def supersedes(event: ActivityEvent, held: datetime | None) -> bool:
    """Whether ``event`` replaces an entry dated ``held``: the one home of "the newest wins".

    Webhooks arrive out of order, so an older event never replaces a newer one; at the same
    second the later arrival wins; an entry with no readable date (``None``) is replaced.

    >>> from datetime import datetime, timezone
    >>> ev = ActivityEvent.from_api({"email_id": "e1", "event": "opened", "date": "2026-11-26T10:00:00Z"})
    >>> supersedes(ev, datetime(2026, 11, 26, 10, 5, tzinfo=timezone.utc)), supersedes(ev, None)
    (False, True)
    """
    return held is None or not held > event.date


def remember_many(session: Session, entries: Iterable[InboxEntry]) -> int:
    """File each event as the newest of its type for its email, in the caller's transaction.

    A batch costs one read of the stored entries and one upsert (per :data:`ROWS_PER_STATEMENT`
    entries), not a read and a write per event: the receiver's group commit hands over up to
    hundreds of events at once.  Several events for one key in ``entries``, or one older than
    the stored entry, are settled by :func:`supersedes`.  Returns how many entries it wrote.

    >>> from airflow.utils.session import create_session  # doctest: +SKIP
    >>> ev = ActivityEvent.from_api({"email_id": "e1", "event": "opened", "date": "2026-11-26T10:00:00Z"})
    >>> with create_session() as session:  # doctest: +SKIP
    ...     remember_many(session, [(asset_id, ev)])
    1
    """
    from airflow.state import get_state_backend  # noqa: PLC0415  (Airflow 3.3+ only)
    from airflow.state.metastore import MetastoreBackend  # noqa: PLC0415
    from airflow.utils.sqlalchemy import get_dialect_name  # noqa: PLC0415

    newest: dict[tuple[int, str], ActivityEvent] = {}
    for asset_id, event in entries:
        slot = (asset_id, inbox_key(event.email_id))
        if slot not in newest or supersedes(event, newest[slot].date):
            newest[slot] = event
    backend = get_state_backend()
    dialect = get_dialect_name(session)
    if not isinstance(backend, MetastoreBackend) or dialect not in UPSERT_DIALECTS:
        return _remember_one_by_one(session, backend, newest)
    # A fixed lock order, so two replicas upserting overlapping keys cannot deadlock.
    slots = sorted(newest)
    written = 0
    for start in range(0, len(slots), ROWS_PER_STATEMENT):
        chunk = {slot: newest[slot] for slot in slots[start : start + ROWS_PER_STATEMENT]}
        held = _stored_dates(session, list(chunk))
        rows = {slot: ev for slot, ev in chunk.items() if slot not in held or supersedes(ev, held[slot])}
        if rows:
            _upsert_rows(session, dialect, rows)
            written += len(rows)
    return written


def _remember_one_by_one(session: Session, backend: Any, newest: dict[tuple[int, str], ActivityEvent]) -> int:
    """Through a custom state backend's own ``get``/``set`` (no bulk API there); UNVERIFIED beyond the metastore."""
    from airflow._shared.state import AssetScope  # noqa: PLC0415

    written = 0
    for (asset_id, key), event in sorted(newest.items()):
        scope = AssetScope(asset_id=asset_id)
        stored = backend.get(scope, key, session=session)
        if stored is None or supersedes(event, _date_of(stored)):
            backend.set(scope, key, json.dumps(event.to_dict()), session=session)
            written += 1
    return written


def _date_of(value: str) -> datetime | None:
    """The date of a stored entry; ``None`` when unreadable (then it is replaced)."""
    try:
        return parse_api_datetime(str(json.loads(value)["date"]))
    except (ValueError, KeyError, TypeError):
        return None


def _stored_dates(session: Session, slots: list[tuple[int, str]]) -> dict[tuple[int, str], datetime | None]:
    """The dates of the entries already stored under ``slots``, in one query.

    ``asset_id = ? AND key IN (...)`` per asset, not ``(asset_id, key) IN (...)``: SQLite
    answers a row-value ``IN`` by scanning the whole table, so each batch got slower as the
    store grew; this form is a primary-key search on every database.
    """
    import sqlalchemy as sa  # noqa: PLC0415
    from airflow.models.asset_state_store import AssetStateStoreModel as Model  # noqa: PLC0415

    table = Model.__table__
    keys: dict[int, list[str]] = {}
    for asset_id, key in slots:
        keys.setdefault(asset_id, []).append(key)
    found = session.execute(
        sa.select(table.c.asset_id, table.c.key, table.c.value).where(
            sa.or_(
                *(sa.and_(table.c.asset_id == asset_id, table.c.key.in_(wanted)) for asset_id, wanted in keys.items())
            )
        )
    )
    return {(int(asset_id), str(key)): _date_of(value) for asset_id, key, value in found}


def _upsert_rows(session: Session, dialect: str | None, rows: dict[tuple[int, str], ActivityEvent]) -> None:
    """Write ``rows`` with one ``INSERT ... ON CONFLICT (asset_id, key) DO UPDATE`` run for many parameter sets.

    The statement has bound parameters only, so it is built and compiled once per process
    (:func:`_upsert_statement`); the driver sends the rows as one multi-row statement
    (psycopg2, mysqlclient) or steps the prepared statement in C (sqlite).  A statement with
    the values inlined was compiled anew for every batch: half the writer's time.
    """
    now = datetime.now(timezone.utc)
    values = [
        {"asset_id": asset_id, "key": key, "value": json.dumps(event.to_dict()), "updated_at": now}
        for (asset_id, key), event in rows.items()
    ]
    session.execute(_upsert_statement(dialect), values)


@functools.cache
def _upsert_statement(dialect: str | None) -> Any:
    """The upsert of the columns Airflow's ``set`` writes, for ``dialect`` (``sqlite`` when not MySQL or PostgreSQL).

    Like ``MetastoreBackend.set`` (no writer kind), an update leaves the ``last_updated_by_*`` columns alone.
    Core (the table, not the ORM class), so a batch skips the ORM's per-row bulk-insert bookkeeping.
    """
    from airflow.models.asset_state_store import AssetStateStoreModel as Model  # noqa: PLC0415

    table = Model.__table__
    if dialect == "mysql":
        from sqlalchemy.dialects.mysql import insert as mysql_insert  # noqa: PLC0415

        my = mysql_insert(table)
        return my.on_duplicate_key_update(value=my.inserted.value, updated_at=my.inserted.updated_at)
    from sqlalchemy.dialects.postgresql import insert as pg_insert  # noqa: PLC0415
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert  # noqa: PLC0415

    # PostgreSQL and SQLite spell the upsert the same way.
    upsert = (pg_insert if dialect == "postgresql" else sqlite_insert)(table)
    changed = {"value": upsert.excluded.value, "updated_at": upsert.excluded.updated_at}
    return upsert.on_conflict_do_update(index_elements=["asset_id", "key"], set_=changed)


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
