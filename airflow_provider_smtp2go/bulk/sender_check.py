"""Is the From address allowed to send? Asked once, before a bulk run sends anything.

SMTP2GO sends from a verified sender domain or a verified single sender address; mail from
anything else is rejected row by row. A bulk run checks first and refuses to start instead.
A subdomain of a verified domain counts as covered (UNVERIFIED: SMTP2GO's rule for
subdomains is not in its published API).

>>> sender_problem("ops@mail.example.com", [{"domain": "example.com", "verified": True}], [])
>>> "not verified" in sender_problem("ops@other.example", [{"domain": "example.com", "verified": True}], [])
True
"""

from __future__ import annotations

from collections.abc import Sequence
from email.utils import parseaddr
from typing import Any

from airflow_provider_smtp2go.client.errors import Smtp2goAuthError
from airflow_provider_smtp2go.client.sync import Smtp2goClient


def sender_problem(sender: str, domains: Sequence[dict[str, Any]], senders: Sequence[dict[str, Any]]) -> str | None:
    """Why ``sender`` cannot send (``None`` when a verified domain or single sender covers it)."""
    address = parseaddr(sender)[1].strip().lower()
    domain = address.rpartition("@")[2]
    for d in domains:
        name = str(d.get("domain") or "")
        if d.get("verified") and (domain == name or domain.endswith("." + name)):
            return None
    if any(s.get("verified") and s.get("email_address") == address for s in senders):
        return None
    listed = [d["domain"] for d in domains if d.get("domain") == domain] or [
        s["email_address"] for s in senders if s.get("email_address") == address
    ]
    state = "listed but not verified" if listed else "neither a verified sender domain nor a verified single sender"
    return f"sender {address} is not verified in SMTP2GO ({domain}: {state})"


def check_sender(client: Smtp2goClient, sender: str) -> str | None:
    """Ask SMTP2GO; return the problem, or ``None`` when the sender is verified.

    A key that may not read either list makes the check impossible: that raises the
    ``Smtp2goAuthError`` only when *neither* list can be read.

    >>> check_sender(client, "ops@example.com")  # doctest: +SKIP
    """
    domains: list[dict[str, Any]] = []
    senders: list[dict[str, Any]] = []
    denied: Smtp2goAuthError | None = None
    try:
        domains = client.view_sender_domains()
    except Smtp2goAuthError as exc:
        denied = exc
    try:
        senders = client.view_single_senders()
    except Smtp2goAuthError:
        if denied is not None:
            raise
    return sender_problem(sender, domains, senders)
