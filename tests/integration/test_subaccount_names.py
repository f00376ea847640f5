"""A client's ``subaccount_id`` may be a subaccount's name: looked up once, lazily, over real HTTP."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest

from airflow_provider_smtp2go.client import Email, Smtp2goValidationError
from airflow_provider_smtp2go.client.aio import AsyncSmtp2goClient
from airflow_provider_smtp2go.client.sync import Smtp2goClient
from airflow_provider_smtp2go.sandbox import Smtp2goSandbox
from logging_handler import Smtp2goHandler


@pytest.fixture
def sandbox() -> Iterator[Smtp2goSandbox]:
    with Smtp2goSandbox() as sb:
        sb.add_subaccount("Sales", "sales@example.com")  # SUB00001
        sb.add_subaccount("Marketing", "marketing@example.com")  # SUB00002
        yield sb


def client_for(sb: Smtp2goSandbox, subaccount: str, key: str | None = None) -> Smtp2goClient:
    return Smtp2goClient(
        key or sb.api_key, base_url=sb.base_url, subaccount_id=subaccount, activity_requests_per_minute=None
    )


def test_a_name_is_looked_up_once_and_every_scoped_call_carries_the_id(sandbox: Smtp2goSandbox) -> None:
    with client_for(sandbox, " marketing ") as client:
        client.send(Email(sender="ops@example.com", to="a@example.com", subject="Hi", text_body="x"))
        assert sandbox.request_count("subaccounts/search") == 0  # sends are not scoped: no look-up
        client.add_suppression("gone@example.com")
        client.view_suppressions()
        client.search_activity()
        client.email_history()
        client.view_webhooks()
        assert client.subaccount_id == "SUB00002"
    assert sandbox.request_count("subaccounts/search") == 1
    assert sandbox.api.subaccounts.scoped_requests() == [
        ("suppression/add", "SUB00002"),
        ("suppression/view", "SUB00002"),
        ("activity/search", "SUB00002"),
        ("stats/email_history", "SUB00002"),
        ("webhook/view", "SUB00002"),
    ]


def test_an_id_is_kept_and_wins_over_a_name_that_spells_it(sandbox: Smtp2goSandbox) -> None:
    sandbox.add_subaccount("SUB00001", "odd@example.com")  # a subaccount *named* like another's id
    with client_for(sandbox, "SUB00001") as client:
        client.view_suppressions()
    assert sandbox.api.subaccounts.scoped_requests() == [("suppression/view", "SUB00001")]


@pytest.mark.parametrize(
    ("given", "rule", "text"),
    [
        ("Marketting", "unknown", "close names: 'Marketing' (SUB00002)"),
        ("ops", "ambiguous", "2 subaccounts are named 'ops'"),
    ],
)
def test_an_unknown_or_shared_name_fails_before_the_scoped_call(
    sandbox: Smtp2goSandbox, given: str, rule: str, text: str
) -> None:
    sandbox.add_subaccount("Ops", "ops1@example.com")
    sandbox.add_subaccount("ops", "ops2@example.com")
    with client_for(sandbox, given) as client, pytest.raises(Smtp2goValidationError) as caught:
        client.add_suppression("gone@example.com")
    assert (caught.value.field, caught.value.rule) == ("subaccount_id", rule)
    assert text in str(caught.value)
    assert sandbox.request_count("suppression/add") == 0
    assert sandbox.api.subaccounts.scoped_requests() == []


def test_a_key_that_cannot_list_subaccounts_uses_the_value_as_an_id(
    sandbox: Smtp2goSandbox, caplog: pytest.LogCaptureFixture
) -> None:
    key = "api-limited0123456789ABCDEF"
    sandbox.add_api_key(key, ["/suppression/view"])
    with client_for(sandbox, "SUB00002", key) as client, caplog.at_level(logging.WARNING):
        client.view_suppressions()
    assert sandbox.api.subaccounts.scoped_requests() == [("suppression/view", "SUB00002")]
    assert "cannot list subaccounts" in caplog.text
    assert key not in caplog.text


def test_the_async_client_resolves_the_same_way(sandbox: Smtp2goSandbox) -> None:
    async def run() -> str | None:
        async with AsyncSmtp2goClient(
            sandbox.api_key, base_url=sandbox.base_url, subaccount_id="Marketing", activity_requests_per_minute=None
        ) as client:
            await client.view_suppressions()
            await client.search_activity()
            return client.subaccount_id

    assert asyncio.run(run()) == "SUB00002"
    assert sandbox.request_count("subaccounts/search") == 1
    assert [s for _, s in sandbox.api.subaccounts.scoped_requests()] == ["SUB00002", "SUB00002"]


def test_the_logging_handler_takes_a_name_and_never_looks_it_up_to_send(sandbox: Smtp2goSandbox) -> None:
    handler = Smtp2goHandler(
        "ops@example.com",
        "alerts@example.com",
        api_key=sandbox.api_key,
        base_url=sandbox.base_url,
        subaccount_id="Marketing",
    )
    logger = logging.getLogger("test.subaccount.handler")
    logger.addHandler(handler)
    try:
        logger.error("disk full")
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert len(sandbox.messages()) == 1
    assert sandbox.request_count("subaccounts/search") == 0
