"""A connection's ``subaccount_id`` extra may be a subaccount's name (issue 13, part 6)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from airflow_provider_smtp2go._compat import AirflowFailException
from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goHook
from airflow_provider_smtp2go.operators.suppressions import Smtp2goAddSuppressionOperator

HOOK_URL = "https://airflow.example.com/smtp2go/webhooks/"


def use_subaccount(smtp2go_conn: Any, monkeypatch: pytest.MonkeyPatch, value: str) -> Any:
    sb = smtp2go_conn.sandbox
    sb.add_subaccount("Sales", "sales@example.com")  # SUB00001
    sb.add_subaccount("Marketing", "marketing@example.com")  # SUB00002
    extra = {**smtp2go_conn.extra, "subaccount_id": value}
    conn = {"conn_type": "smtp2go", "password": smtp2go_conn.api_key, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_SMTP2GO_DEFAULT", json.dumps(conn))
    return sb


def test_the_hook_resolves_a_name_once_for_its_sync_and_async_clients(
    smtp2go_conn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb = use_subaccount(smtp2go_conn, monkeypatch, "Marketing")
    hook = Smtp2goHook()
    client = hook.get_client()
    assert sb.request_count("subaccounts/search") == 0  # no look-up when the hook is built
    result = hook.ensure_webhook(HOOK_URL, ["bounce"], webhook_conn_id=None)
    client.add_suppression("gone@example.com")

    async def scoped_async_call() -> None:
        async with await hook.aget_client() as aclient:
            await aclient.view_suppressions()

    asyncio.run(scoped_async_call())
    assert sb.request_count("subaccounts/search") == 1
    assert [w.id for w in sb.api.webhooks.view("SUB00002")] == [result["id"]]
    assert {scope for _, scope in sb.api.subaccounts.scoped_requests()} == {"SUB00002"}
    hook.close()


@pytest.mark.parametrize(
    ("value", "text"), [("Marketting", "close names: 'Marketing' (SUB00002)"), ("Sales", "2 subaccounts are named")]
)
def test_a_wrong_name_fails_the_task_naming_the_connection_and_field(
    smtp2go_conn: Any, monkeypatch: pytest.MonkeyPatch, value: str, text: str
) -> None:
    sb = use_subaccount(smtp2go_conn, monkeypatch, value)
    sb.add_subaccount("sales", "sales2@example.com")
    op = Smtp2goAddSuppressionOperator(task_id="suppress", email_addresses=["gone@example.com"])
    with pytest.raises(AirflowFailException) as caught:
        op.execute({})
    message = str(caught.value)
    assert "subaccount_id" in message and "connection 'smtp2go_default'" in message and text in message
    assert sb.request_count("suppression/add") == 0


def test_the_connection_form_says_id_or_name() -> None:
    from airflow_provider_smtp2go import get_provider_info

    field = get_provider_info()["connection-types"][0]["conn-fields"]["subaccount_id"]
    assert "id or name" in field["label"]
