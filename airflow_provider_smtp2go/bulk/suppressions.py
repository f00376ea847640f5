"""Skip suppressed recipients before a bulk run sends (``/suppression/view``), instead of
learning about them from a 200-with-failures afterwards.

The account's suppression list is read once per run (paged with ``continue_token``); a row
whose every recipient is suppressed (the address, or its whole domain) is recorded as
``Outcome.SUPPRESSED`` and not sent. The check is an optimisation, never a guarantee: a list
cut short (page cap, an error) skips only what it saw, and SMTP2GO still refuses the rest.

>>> found = SuppressionList({"gone@example.com", "blocked.example"})
>>> found.covers("Gone@Example.com"), found.covers("x@blocked.example"), found.covers("x@example.com")
(True, True, False)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any, Protocol

from airflow_provider_smtp2go.client.errors import Smtp2goError

log = logging.getLogger("airflow_provider_smtp2go.bulk")
MAX_PAGES = 200


class SuppressionReader(Protocol):
    def view_suppressions(self, *, continue_token: str | None = ...) -> dict[str, Any]: ...


@dataclass(frozen=True)
class SuppressionList:
    """Suppressed addresses and domains, lower-cased."""

    entries: frozenset[str] | set[str]
    complete: bool = True

    def covers(self, address: str) -> bool:
        """True when ``address`` or its domain is suppressed."""
        text = (parseaddr(address)[1] or address).strip().lower()
        return text in self.entries or text.rpartition("@")[2] in self.entries

    def covers_all(self, addresses: Iterable[str]) -> bool:
        listed = list(addresses)
        return bool(listed) and all(self.covers(a) for a in listed)


def read_suppressions(client: SuppressionReader, *, max_pages: int = MAX_PAGES) -> SuppressionList:
    """Every suppression SMTP2GO lists, following ``continue_token``.

    A failure or the page cap ends the read early (``complete=False``): what was read still counts.
    """
    entries: set[str] = set()
    token: str | None = None
    for _ in range(max_pages):
        try:
            data = client.view_suppressions(continue_token=token)
        except Smtp2goError as exc:
            log.warning("bulk send: could not read the suppression list (%s); sending without the pre-check", exc)
            return SuppressionList(entries, complete=False)
        for item in data.get("results") or []:
            if isinstance(item, dict) and item.get("email_address"):
                entries.add(str(item["email_address"]).strip().lower())
        token = data.get("continue_token") or None
        if token is None:
            return SuppressionList(entries)
    log.warning("bulk send: the suppression list has more than %d pages; checked the first ones", max_pages)
    return SuppressionList(entries, complete=False)
