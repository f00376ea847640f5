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
    from airflow.assets.manager import AssetManager  # noqa: PLC0415
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
        assets: dict[str, Any] = {}
        for index, key, ev in new:
            uri = asset_uri(ev.event, accounts[index])
            if uri not in assets:
                assets[uri] = _asset_model(session, uri)
            extra = {**ev.to_dict(), "account": accounts[index], "dedupe_key": key}
            # The keywords every Airflow 3.1-3.3 accepts (3.2 added partition and team options).
            asset_event = AssetManager.register_asset_change(asset=assets[uri], extra=extra, session=session)
            if asset_event is None:
                raise RuntimeError(f"Airflow did not record an asset event for {uri}")
            created[index].append(int(asset_event.id))
            _remember_for_triggers(session, assets[uri], ev)
    return created


def _remember_for_triggers(session: Session, asset: Any, event: ActivityEvent) -> None:
    """Where a deferred sensor's trigger finds the event, in this same transaction (Airflow 3.3+)."""
    from airflow_provider_smtp2go.webhooks import inbox  # noqa: PLC0415

    if inbox.AVAILABLE:
        inbox.remember(session, int(asset.id), event)


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
