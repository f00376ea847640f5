"""Which subaccount a client's ``subaccount_id`` means: an id, or a name found with ``/subaccounts/search``.

SMTP2GO documents a subaccount's ``id`` only as "string" (its format is UNVERIFIED), so an id
cannot be told from a name by its shape. The rule, in this one place for every client (hook,
operators, triggers, logging handler):

1. nothing is looked up until a call that is scoped to a subaccount is made (sends are not
   scoped: ``/email/send`` has no subaccount field), so building a client, or a DAG file that
   builds one, costs no request;
2. then every subaccount the key can see is listed once (all pages) and the value matched:
   an exact ``id`` wins; else a name equal to it, ignoring case and surrounding spaces;
3. no match, or a name shared by several subaccounts, is an ``Smtp2goValidationError`` on
   field ``subaccount_id`` naming where the value came from and the close names, raised before
   the scoped call goes out;
4. a key that may not call ``/subaccounts/search`` gets the value used as an id, as before
   names were accepted, with one warning;
5. the id found is kept in the ``SubaccountRef``: clients sharing one (a hook's) look it up once.

>>> ref = SubaccountRef("marketing")
>>> ref.settle([{"id": "SUB1", "name": "Marketing"}, {"id": "SUB2", "name": "Sales"}])
'SUB1'
>>> ref.resolved
'SUB1'
>>> SubaccountRef("SUB2").settle([{"id": "SUB1", "name": "SUB2"}, {"id": "SUB2", "name": "Sales"}])
'SUB2'
"""

from __future__ import annotations

import difflib
import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_smtp2go.client.errors import Smtp2goValidationError

log = logging.getLogger(__name__)

FIELD = "subaccount_id"
#: A bound on the look-up (SMTP2GO's page size is UNVERIFIED): past it the value is not found.
MAX_PAGES = 50
CLOSE_NAMES = 5


class SubaccountUnresolved(LookupError):
    """Raised by ``ClientSettings.subaccount_id`` while a name is not yet looked up (the
    endpoint methods catch it, look the name up, and build the call again)."""


def subaccount_items(data: Any) -> list[dict[str, Any]]:
    """The subaccount objects of a ``/subaccounts/search`` answer's ``data``.

    >>> subaccount_items({"subaccounts": [{"id": "SUB1"}, "junk"], "total_count": 1})
    [{'id': 'SUB1'}]
    """
    items = data.get("subaccounts") if isinstance(data, Mapping) else None
    return [dict(i) for i in (items if isinstance(items, list) else []) if isinstance(i, Mapping)]


def _label(item: Mapping[str, Any]) -> str:
    return f"{item.get('name')!r} ({item.get('id')})"


def match_subaccount(items: Iterable[Mapping[str, Any]], given: str, *, where: str | None = None) -> dict[str, Any]:
    """The one subaccount that ``given`` names (rule 2 above); raise naming ``where`` otherwise.

    >>> match_subaccount([{"id": "SUB1", "name": "Marketing"}], "Marketting", where="connection 'c'")
    Traceback (most recent call last):
    ...
    airflow_provider_smtp2go.client.errors.Smtp2goValidationError: subaccount_id: no subaccount has the id or \
name 'Marketting' (in connection 'c'); close names: 'Marketing' (SUB1)
    """
    listed = [dict(i) for i in items]
    suffix = f" (in {where})" if where else ""
    by_id = [i for i in listed if str(i.get("id")) == given.strip()]
    if by_id:
        return by_id[0]
    wanted = given.strip().casefold()
    named = [i for i in listed if str(i.get("name", "")).strip().casefold() == wanted]
    if len(named) == 1:
        return named[0]
    if named:
        raise Smtp2goValidationError(
            FIELD,
            "ambiguous",
            f"{len(named)} subaccounts are named {given!r}{suffix}: {', '.join(map(_label, named))}; give the id",
        )
    names = {str(i.get("name", "")).strip().casefold(): i for i in listed}
    close = [names[n] for n in difflib.get_close_matches(wanted, list(names), n=CLOSE_NAMES, cutoff=0.6)]
    hint = f"close names: {', '.join(map(_label, close))}" if close else f"{len(listed)} subaccounts are visible"
    raise Smtp2goValidationError(FIELD, "unknown", f"no subaccount has the id or name {given!r}{suffix}; {hint}")


class SubaccountRef:
    """A ``subaccount_id`` as given (an id or a name) and, once looked up, the id it means.

    Thread-safe; share one between clients to look the name up once (the hook does).

    :param given: the value from the connection or the caller.
    :param source: where it came from, for error messages (``"connection 'smtp2go_default'"``).
    """

    def __init__(self, given: str, *, source: str | None = None) -> None:
        if not isinstance(given, str) or not given.strip() or any(c in given for c in "\r\n"):
            raise Smtp2goValidationError(FIELD, "format", f"expected a subaccount id or name, got {given!r}")
        self.given = given.strip()
        self.source = source
        self._resolved: str | None = None
        self._lock = threading.Lock()

    @property
    def resolved(self) -> str | None:
        """The id, once looked up (``None`` before)."""
        return self._resolved

    def settle(self, items: Iterable[Mapping[str, Any]]) -> str:
        """Match the listed subaccounts and keep the id (raises as ``match_subaccount``)."""
        found = str(match_subaccount(items, self.given, where=self.source)["id"])
        with self._lock:
            self._resolved = found
        return found

    def settle_unlisted(self, reason: str) -> str:
        """Use the value as an id: the key cannot list subaccounts (rule 4)."""
        with self._lock:
            if self._resolved is None:
                log.warning(
                    "SMTP2GO subaccount %r%s is used as an id: the key cannot list subaccounts (%s), "
                    "so a name cannot be resolved",
                    self.given,
                    f" (from {self.source})" if self.source else "",
                    reason,
                )
                self._resolved = self.given
        return self._resolved

    def __repr__(self) -> str:
        return f"SubaccountRef({self.given!r}, resolved={self._resolved!r})"

    def __copy__(self) -> SubaccountRef:
        return self  # shared on purpose: copies of settings keep one look-up

    def __deepcopy__(self, memo: dict[int, Any]) -> SubaccountRef:
        return self


class SubaccountLookup:
    """The paging of one look-up (sans-IO): the next request's arguments, and the items so far.

    >>> lookup = SubaccountLookup()
    >>> lookup.next_request()
    {}
    >>> lookup.add({"subaccounts": [{"id": "SUB1"}], "continue_token": "t2"})
    >>> lookup.next_request()
    {'continue_token': 't2'}
    >>> lookup.add({"subaccounts": [], "continue_token": ""})
    >>> lookup.next_request() is None, lookup.items
    (True, [{'id': 'SUB1'}])
    """

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._token: str | None = None
        self._pages = 0
        self._done = False

    def next_request(self) -> dict[str, Any] | None:
        if self._done or self._pages >= MAX_PAGES:
            return None
        return {} if self._token is None else {"continue_token": self._token}

    def add(self, data: Any) -> None:
        self._pages += 1
        self.items += subaccount_items(data)
        token = data.get("continue_token") if isinstance(data, Mapping) else None
        self._done = not token or token == self._token
        self._token = str(token) if token else None
