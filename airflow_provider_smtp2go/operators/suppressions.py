"""Operators that add and lift SMTP2GO suppressions, e.g. from a bounce-handling DAG.

``Smtp2goAddSuppressionOperator`` stops all mail to addresses (or whole domains);
``Smtp2goRemoveSuppressionOperator`` lifts suppressions of the given types. Both take one
address or a list (templated, so ``"{{ ti.xcom_pull('find_bounces') }}"`` works with
``render_template_as_native_obj``) and return a small dict to XCom.
"""

# ruff: noqa: PLC0415  (imports inside functions are deliberate: DAG parsing must stay cheap)

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_smtp2go._compat import BaseOperator
from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goHook, airflow_error

if TYPE_CHECKING:
    from airflow_provider_smtp2go._compat import Context
    from airflow_provider_smtp2go.client import Smtp2goClient


def address_list(value: str | Sequence[str] | None) -> list[str]:
    """One address, a comma-separated string or a list, as a list without blanks.

    >>> address_list("a@example.com, b@example.com")
    ['a@example.com', 'b@example.com']
    >>> address_list(None)
    []
    """
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    return [item.strip() for item in items if item.strip()]


class _SuppressionOperator(BaseOperator):
    template_fields: Sequence[str] = ("email_addresses", "smtp2go_conn_id")
    ui_color = "#f2e1df"

    def __init__(
        self,
        *,
        email_addresses: str | Sequence[str],
        smtp2go_conn_id: str = Smtp2goHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.email_addresses = email_addresses
        self.smtp2go_conn_id = smtp2go_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_smtp2go.client import Smtp2goError

        addresses = address_list(self.email_addresses)
        with Smtp2goHook(self.smtp2go_conn_id) as hook:
            try:
                client = hook.get_client()
                return self.apply(client, addresses)
            except Smtp2goError as exc:
                raise airflow_error(exc) from exc

    def apply(self, client: Smtp2goClient, addresses: list[str]) -> dict[str, Any]:
        raise NotImplementedError


class Smtp2goAddSuppressionOperator(_SuppressionOperator):
    """Suppress addresses or domains so SMTP2GO sends them nothing.

    >>> Smtp2goAddSuppressionOperator(task_id="suppress", email_addresses=["gone@example.com"],
    ...                               block_description="hard bounce")  # doctest: +SKIP

    :param email_addresses: addresses or domains (a list or a comma-separated string).
    :param block_description: why, as SMTP2GO records it (searchable as the reason text).
    :param smtp2go_conn_id: the ``smtp2go`` connection.

    Returns ``{"added": [...]}`` (addresses as SMTP2GO echoed them).
    """

    template_fields: Sequence[str] = ("email_addresses", "block_description", "smtp2go_conn_id")

    def __init__(self, *, block_description: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.block_description = block_description

    def apply(self, client: Smtp2goClient, addresses: list[str]) -> dict[str, Any]:
        added = []
        for address in addresses:
            data = client.add_suppression(address, block_description=self.block_description)
            added.append(str(data.get("email_address") or address))
        self.log.info("Suppressed %d address(es) in SMTP2GO", len(added))
        return {"added": added}


class Smtp2goRemoveSuppressionOperator(_SuppressionOperator):
    """Lift suppressions of the given types (``manual`` by default; ``bounce``, ``spam``...).

    >>> Smtp2goRemoveSuppressionOperator(task_id="unsuppress", email_addresses="back@example.com",
    ...                                  suppression_types=["manual", "bounce"])  # doctest: +SKIP

    :param email_addresses: addresses or domains (a list or a comma-separated string).
    :param suppression_types: the types to lift (SMTP2GO's ``reasons`` field of ``/suppression/remove``).
    :param smtp2go_conn_id: the ``smtp2go`` connection.

    Returns ``{"removed": [...], "not_found": [...]}``: an address none of whose types were
    suppressed is ``not_found``, which is not an error (the end state is what was asked).
    """

    def __init__(self, *, suppression_types: Sequence[str] = ("manual",), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suppression_types = list(suppression_types)

    def apply(self, client: Smtp2goClient, addresses: list[str]) -> dict[str, Any]:
        removed: list[str] = []
        not_found: list[str] = []
        for address in addresses:
            data = client.remove_suppression(address, reasons=self.suppression_types)
            rows = data.get("suppressions") or []
            hit = any(isinstance(r, dict) and r.get("removed") is True for r in rows)
            (removed if hit else not_found).append(address)
        self.log.info("Lifted suppressions of %d address(es); %d had none", len(removed), len(not_found))
        return {"removed": removed, "not_found": not_found}
