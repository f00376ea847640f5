"""``/subaccounts/search``: the sandbox's subaccounts (none until a test adds some), and a record
of which subaccount each scoped request named (``scoped_requests``), for tests to assert on.

Example::

    >>> registry = SubaccountRegistry()
    >>> registry.add("Marketing", "marketing@example.com")["id"]
    'SUB00001'
    >>> [s["name"] for s in registry.search({"search_terms": ["market"], "fuzzy_search": True})]
    ['Marketing']
"""

from __future__ import annotations

import threading
from typing import Any

from airflow_provider_smtp2go.sandbox.wire import Response, success, validation_error

PLAN_SIZE = 10_000


class SubaccountRegistry:
    """Subaccounts by id, in the order added."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, dict[str, Any]] = {}
        self._scoped: list[tuple[str, str]] = []

    def add(self, name: str, email: str, *, subaccount_id: str | None = None, state: str = "active") -> dict[str, Any]:
        with self._lock:
            sid = subaccount_id or f"SUB{len(self._items) + 1:05d}"
            item = {
                "name": name,
                "email": email,
                "id": sid,
                "plan_size": PLAN_SIZE,
                "plan_used": 0,
                "plan_remaining": PLAN_SIZE,
                "state": state,
                "dedicated_ip": False,
            }
            self._items[sid] = item
            return dict(item)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._scoped.clear()

    def note(self, path: str, payload: dict[str, Any]) -> None:
        """Record the subaccount a request is scoped to (``subaccount_id``, or each of ``subaccounts``)."""
        named = payload.get("subaccounts")
        scopes = [payload.get("subaccount_id")] + (named if isinstance(named, list) else [])
        with self._lock:
            self._scoped += [(path, str(s)) for s in scopes if isinstance(s, str) and s]

    def scoped_requests(self) -> list[tuple[str, str]]:
        """``(path, subaccount)`` for every request that named a subaccount, in arrival order."""
        with self._lock:
            return list(self._scoped)

    def search(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        # Exact name/id/email match unless fuzzy_search (how SMTP2GO matches is UNVERIFIED).
        terms = [str(t).lower() for t in payload.get("search_terms") or []]
        fuzzy = payload.get("fuzzy_search") is True
        states = payload.get("states")
        with self._lock:
            items = [dict(i) for i in self._items.values()]

        def hit(item: dict[str, Any]) -> bool:
            fields = [str(item[k]).lower() for k in ("name", "id", "email")]
            return any((t in f) if fuzzy else (t == f) for t in terms for f in fields)

        found = [i for i in items if (not terms or hit(i)) and (not states or i["state"] in str(states))]
        return sorted(found, key=lambda i: i["name"].lower(), reverse=payload.get("sort_direction") == "desc")


def handle(payload: dict[str, Any], registry: SubaccountRegistry) -> Response:
    """Answer ``subaccounts/search`` (one page: ``continue_token`` is always empty)."""
    terms = payload.get("search_terms")
    if terms is not None and (not isinstance(terms, list) or not all(isinstance(t, str) for t in terms)):
        return validation_error("search_terms", "The field 'search_terms' was expecting an array of strings.")
    found = registry.search(payload)
    return success({"continue_token": "", "subaccounts": found, "total_count": len(found)})
