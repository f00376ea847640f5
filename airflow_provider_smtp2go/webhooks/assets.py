"""Webhook events as Airflow asset events: one asset per account and event type.

URI scheme: ``smtp2go://<account>/<event type>``, the event type spelled as
``/activity/search`` spells it, e.g. ``smtp2go://default/hard-bounced`` or
``smtp2go://marketing/opened``.  A DAG scheduled on that asset runs when the receiver records
such an event; the asset event's ``extra`` is the normalised event
(:meth:`ActivityEvent.to_dict`: ``email_id``, ``event``, ``date``, ``recipient``, ``sender``,
``subject``, ...) plus ``account`` and ``dedupe_key``::

    from airflow.sdk import DAG, task
    from airflow_provider_smtp2go.webhooks.assets import webhook_asset

    with DAG("suppress_bounces", schedule=[webhook_asset("hard-bounced")]):
        @task
        def suppress(triggering_asset_events=None):
            for event in triggering_asset_events[webhook_asset("hard-bounced")]:
                print(event.extra["recipient"])

Events for an asset no DAG declares are still recorded: the receiver creates the asset row
(group ``smtp2go``), so nothing is lost and the asset's page lists them; Airflow then logs
"Emitting event for inactive AssetModel" until a DAG declares it.

Example::

    >>> asset_uri("hard-bounced")
    'smtp2go://default/hard-bounced'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_smtp2go.client.activity import EVENT_TYPES, ActivityEvent

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

SCHEME = "smtp2go"
ASSET_GROUP = "smtp2go"
DEFAULT_ACCOUNT = "default"
ACCOUNT_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
"""Account names: lower-case letters, digits, ``_`` and ``-``; they appear in URLs, URIs and conn ids."""
MAX_ATTEMPTS = 3


def check_account(account: str) -> str:
    """``account`` if it is a valid account name, else ``ValueError``.

    >>> check_account("Marketing")
    Traceback (most recent call last):
    ...
    ValueError: account names are lower-case letters, digits, '_' and '-' (at most 63), not 'Marketing'
    """
    if not isinstance(account, str) or not ACCOUNT_PATTERN.match(account):
        raise ValueError(f"account names are lower-case letters, digits, '_' and '-' (at most 63), not {account!r}")
    return account


def asset_uri(event_type: str, account: str = DEFAULT_ACCOUNT) -> str:
    """The URI of the asset that ``event_type`` events of ``account`` update."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}; expected one of {', '.join(sorted(EVENT_TYPES))}")
    return f"{SCHEME}://{check_account(account)}/{event_type}"


def webhook_asset(event_type: str, account: str = DEFAULT_ACCOUNT) -> Any:
    """The Airflow ``Asset`` for ``event_type`` events of ``account``, to schedule a DAG on.

    >>> webhook_asset("hard-bounced").uri  # doctest: +SKIP
    'smtp2go://default/hard-bounced'
    """
    from airflow_provider_smtp2go._compat import asset_class  # noqa: PLC0415  (keeps this module Airflow-free)

    return asset_class()(asset_uri(event_type, account))


@dataclass(frozen=True)
class Recorded:
    """What one post led to: asset events created, events already recorded, events ignored."""

    created: int
    duplicates: int
    asset_event_ids: tuple[int, ...] = ()


Post = tuple[str, Sequence[ActivityEvent]]
"""One post's account and the events it stands for."""


def record_events(account: str, events: Sequence[ActivityEvent]) -> Recorded:
    """Record each new event of one post as an asset event (see :func:`record_posts`)."""
    return record_posts([(account, events)])[0]


def record_posts(posts: Sequence[Post]) -> list[Recorded]:
    """Record the new events of several posts in **one** transaction, atomically with their
    dedupe receipts; one :class:`Recorded` per post.

    Commits before returning: when this returns, every event is durably recorded (now or by
    an earlier post); when it raises, nothing of this call is.  A race with another replica
    (the same key, or the same new asset row, inserted meanwhile) rolls back and retries.
    An event that appears twice among ``posts`` is recorded once (the later copy counts as a
    duplicate).
    """
    from sqlalchemy.exc import IntegrityError  # noqa: PLC0415  (Airflow-side imports stay lazy)

    from airflow_provider_smtp2go.webhooks.dedupe import dedupe_key  # noqa: PLC0415

    keyed = [[(dedupe_key(account, ev), ev) for ev in events] for account, events in posts]
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            created = _record_once([account for account, _ in posts], keyed)
        except IntegrityError:
            if attempt == MAX_ATTEMPTS:
                raise
            continue
        return [
            Recorded(created=len(ids), duplicates=len(events) - len(ids), asset_event_ids=tuple(ids))
            for ids, (_, events) in zip(created, posts, strict=True)
        ]
    raise AssertionError("unreachable")  # pragma: no cover


def _record_once(accounts: list[str], keyed: list[list[tuple[str, ActivityEvent]]]) -> list[list[int]]:
    from airflow.utils.session import create_session  # noqa: PLC0415

    from airflow_provider_smtp2go.webhooks import dedupe  # noqa: PLC0415

    created: list[list[int]] = [[] for _ in keyed]
    with create_session() as session:  # commits on success, rolls back on any exception
        dedupe.ensure_table(session)
        taken = dedupe.seen(session, (key for post in keyed for key, _ in post))
        new: list[tuple[int, str, ActivityEvent]] = []
        for index, post in enumerate(keyed):
            for key, ev in post:
                if key not in taken:
                    taken.add(key)
                    new.append((index, key, ev))
        if not new:
            return created
        for account in set(accounts):
            dedupe.claim(session, account, [(key, ev) for index, key, ev in new if accounts[index] == account])
        session.flush()  # the unique check happens here, before any asset event exists
        by_uri: dict[str, list[tuple[int, dict[str, Any], ActivityEvent]]] = {}
        for index, key, ev in new:
            extra = {**ev.to_dict(), "account": accounts[index], "dedupe_key": key}
            by_uri.setdefault(asset_uri(ev.event, accounts[index]), []).append((index, extra, ev))
        for_triggers: list[tuple[int, ActivityEvent]] = []
        for uri, items in by_uri.items():
            asset = _asset_model(session, uri)
            ids = _add_asset_events(session, asset, [extra for _, extra, _ in items])
            for (index, _, ev), event_id in zip(items, ids, strict=True):
                created[index].append(event_id)
                for_triggers.append((int(asset.id), ev))
        _remember_for_triggers(session, for_triggers)
    return created


def _remember_for_triggers(session: Session, entries: list[tuple[int, ActivityEvent]]) -> None:
    """Where a deferred sensor's trigger finds the events, in this same transaction (Airflow 3.3+)."""
    from airflow_provider_smtp2go.webhooks import inbox  # noqa: PLC0415

    if inbox.AVAILABLE:
        inbox.remember_many(session, entries)


def _add_asset_events(session: Session, asset: Any, extras: list[dict[str, Any]]) -> list[int]:
    """Asset events for ``extras`` (one asset, each with its own ``dedupe_key``), their ids in order;
    the last always through Airflow's own path.

    ``AssetManager.register_asset_change`` costs ~3 ms of ORM work per event (it looks the
    asset and its consumers up again, flushes, queues DAG runs and calls listeners each time).
    When no listener plugin watches assets, the events before the last are inserted in one
    statement and only the last goes through ``register_asset_change``, which queues the
    DAGs scheduled on the asset.  That one queue entry stands for all of them: Airflow keeps
    one ``AssetDagRunQueue`` row per (DAG, asset) anyway, and the run it becomes consumes
    every event up to that row's time, which is after all of these (inserted first, in the
    same transaction).  With a listener (e.g. OpenLineage), every event takes the full path,
    so each one is announced.
    """
    from airflow.assets.manager import AssetManager  # noqa: PLC0415
    from airflow.models.asset import AssetEvent  # noqa: PLC0415
    from sqlalchemy import insert as sa_insert  # noqa: PLC0415

    ids: list[int] = []
    if len(extras) > 1 and not _listeners_watch_assets():
        table = AssetEvent.__table__
        rows = [{"asset_id": asset.id, "extra": extra} for extra in extras[:-1]]
        # RETURNING in no particular order is one multi-row INSERT on every backend; asking
        # for parameter order makes SQLAlchemy send SQLite one INSERT per row.  So each id is
        # matched to its event by the dedupe key in the returned extra.
        returned = session.execute(sa_insert(table).returning(table.c.id, table.c.extra), rows)
        by_key = {extra["dedupe_key"]: int(event_id) for event_id, extra in returned}
        ids = [by_key[extra["dedupe_key"]] for extra in extras[:-1]]
        _count_asset_updates(len(ids))
        extras = extras[-1:]
    for extra in extras:
        # The keywords every Airflow 3.1-3.3 accepts (3.2 added partition and team options).
        asset_event = AssetManager.register_asset_change(asset=asset, extra=extra, session=session)
        if asset_event is None:
            raise RuntimeError(f"Airflow did not record an asset event for {asset.uri}")
        ids.append(int(asset_event.id))
    return ids


def _listeners_watch_assets() -> bool:
    """Whether a listener plugin implements an asset hook (then every event is announced)."""
    try:
        from airflow.listeners.listener import get_listener_manager  # noqa: PLC0415

        hook = get_listener_manager().pm.hook
    except Exception:  # an Airflow without listeners as we know them: take the full path, which announces
        return True
    # Airflow 3.1 has only on_asset_changed; on_asset_event_emitted came in 3.2.
    hooks = [getattr(hook, name, None) for name in ("on_asset_changed", "on_asset_event_emitted")]
    return any(h is not None and h.get_hookimpls() for h in hooks)


def _count_asset_updates(count: int) -> None:
    """The ``asset.updates`` metric that ``register_asset_change`` sends, for events inserted in bulk.

    Counted through the very object Airflow's asset manager uses (``stats`` on 3.3, ``Stats``
    before), since where it lives moved in every minor; a metric must never fail an ingest.
    """
    from airflow.assets import manager  # noqa: PLC0415

    sink = getattr(manager, "stats", None) or getattr(manager, "Stats", None)
    incr = getattr(sink, "incr", None)
    if incr is not None:
        incr("asset.updates", count)


def _asset_model(session: Session, uri: str) -> Any:
    """The asset DAGs know by this URI (the active one first), created when there is none."""
    import sqlalchemy as sa  # noqa: PLC0415
    from airflow.models.asset import AssetActive, AssetModel  # noqa: PLC0415

    found = session.scalars(
        sa.select(AssetModel)
        .outerjoin(AssetActive, sa.and_(AssetActive.name == AssetModel.name, AssetActive.uri == AssetModel.uri))
        .where(AssetModel.uri == uri)
        .order_by(AssetActive.uri.is_(None), AssetModel.id)
        .limit(1)
    ).first()
    if found is not None:
        return found
    model = AssetModel(name=uri, uri=uri, group=ASSET_GROUP)
    session.add(model)
    session.flush()  # a replica creating it meanwhile makes this raise IntegrityError: retried
    return model
