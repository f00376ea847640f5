"""Verified senders: ``/domain/view`` and ``/single_sender_emails/view``.

The sandbox starts with ``example.com`` as a verified sender domain (the domain its examples
and tests send from); ``Smtp2goSandbox.add_sender_domain`` / ``add_single_sender`` add more,
verified or not. A domain is verified when both its DKIM and return-path records are.

Example::

    >>> registry = SenderRegistry()
    >>> registry.add_domain("unverified.example", verified=False)
    >>> [d["domain"]["fulldomain"] for d in registry.domains_view({})]
    ['example.com', 'unverified.example']
"""

from __future__ import annotations

import threading
from typing import Any

from airflow_provider_smtp2go.sandbox.wire import Response, success, validation_error

DEFAULT_VERIFIED_DOMAINS = ("example.com",)


def _status(verified: bool) -> str:
    return "verified" if verified else "pending"


class SenderRegistry:
    """Sender domains and single sender addresses, each verified or not."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._domains: dict[str, bool] = {}
        self._senders: dict[str, bool] = {}
        self.reset()

    def reset(self) -> None:
        """Back to the default: ``example.com`` verified, no single senders."""
        with self._lock:
            self._domains = dict.fromkeys(DEFAULT_VERIFIED_DOMAINS, True)
            self._senders = {}

    def add_domain(self, domain: str, *, verified: bool = True) -> None:
        with self._lock:
            self._domains[domain.strip().lower()] = verified

    def add_sender(self, address: str, *, verified: bool = True) -> None:
        with self._lock:
            self._senders[address.strip().lower()] = verified

    def domains_view(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        wanted = str(payload.get("domain") or "").strip().lower()
        with self._lock:
            domains = sorted(self._domains.items())
        return [_domain_item(name, verified) for name, verified in domains if not wanted or name == wanted]

    def senders_view(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        wanted = str(payload.get("email_address") or "").strip().lower()
        with self._lock:
            senders = sorted(self._senders.items())
        return [
            {"email_address": address, "verified": verified}
            for address, verified in senders
            if not wanted or address == wanted
        ]


def _domain_item(name: str, verified: bool) -> dict[str, Any]:
    label, _, suffix = name.partition(".")
    return {
        "domain": {
            "fulldomain": name,
            "subdomain": None,
            "domain": label,
            "suffix": suffix,
            "dkim_selector": "s" + "1" * 6,
            "dkim_verified": verified,
            "dkim_status": _status(verified),
            "dkim_value": "dkim.smtp2go.net",
            "rpath_selector": "em" + "1" * 6,
            "rpath_verified": verified,
            "rpath_status": _status(verified),
            "rpath_value": "return.smtp2go.net",
            "setup_link": "",
        },
        "trackers": [],
        "subaccount_access": {"subaccounts": [], "future_subaccounts": False},
    }


def handle(path: str, payload: dict[str, Any], registry: SenderRegistry) -> Response:
    """Answer ``domain/view`` or ``single_sender_emails/view``."""
    name = "domain" if path == "domain/view" else "email_address"
    if payload.get(name) is not None and not isinstance(payload.get(name), str):
        return validation_error(name, f"The field '{name}' was expecting a string.")
    if path == "domain/view":
        return success({"domains": registry.domains_view(payload)})
    return success({"senders": registry.senders_view(payload)})
