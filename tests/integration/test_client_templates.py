"""``/template/add|edit|delete`` over real HTTP to the sandbox, sync and async: the published
shapes, ``last_updated`` on the sandbox clock, and bad input refused before the network."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_smtp2go.client import (
    AsyncSmtp2goClient,
    Email,
    Smtp2goApiError,
    Smtp2goClient,
    Smtp2goValidationError,
)
from airflow_provider_smtp2go.sandbox import Smtp2goSandbox


def test_add_edit_delete_round_trip(smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient) -> None:
    added = client.add_template(
        "receipt-01",
        name="Receipt",
        subject="Order {{ order_id }}",
        html_body="<p>{{ order_id }}</p>",
        template_variables={"order_id": "A-1"},
        tags=["shop"],
    )
    assert added["template_name"] == "Receipt" and added["text_body"] == ""
    first = client.view_template("receipt-01")["last_updated"]

    smtp2go_sandbox.clock.advance(3600)
    edited = client.edit_template("receipt-01", text_body="Order {{ order_id }} received")
    assert edited["subject"] == "Order {{ order_id }}"  # fields left out are kept
    view = client.view_template("receipt-01")
    assert view["text_body"] == "Order {{ order_id }} received" and view["tags"] == ["shop"]
    assert view["last_updated"] > first

    client.send(Email(sender="shop@example.com", to=["ann@example.com"], template_id="receipt-01"))
    assert smtp2go_sandbox.messages()[0].text_body == "Order A-1 received"  # the declared sample fills in

    client.edit_template("receipt-01", new_id="receipt-02", name="Receipt v2")
    [item] = client.search_templates()["templates"]
    assert (item["id"], item["name"]) == ("receipt-02", "Receipt v2")

    assert isinstance(client.delete_template("receipt-02"), str)
    assert client.search_templates()["templates"] == []
    with pytest.raises(Smtp2goApiError) as caught:
        client.delete_template("receipt-02")
    assert caught.value.field_validation_errors["fieldname"] == "id"


def test_the_sandbox_refuses_a_taken_id_and_an_unknown_one(client: Smtp2goClient) -> None:
    client.add_template("taken-01", name="A", subject="s", text_body="t")
    with pytest.raises(Smtp2goApiError, match="rejected"):
        client.add_template("taken-01", name="B", subject="s", text_body="t")
    client.add_template("other-01", name="B", subject="s", text_body="t")
    with pytest.raises(Smtp2goApiError) as caught:
        client.edit_template("other-01", new_id="taken-01")
    assert caught.value.field_validation_errors["fieldname"] == "new_id"
    with pytest.raises(Smtp2goApiError):
        client.edit_template("missing-01", subject="x")


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda c: c.add_template("abc", name="n", subject="s", text_body="t"), "template_id"),
        (lambda c: c.add_template("good-01", name="x" * 65, subject="s", text_body="t"), "template_name"),
        (lambda c: c.add_template("good-01", name="n", subject="a\r\nBcc: x", text_body="t"), "subject"),
        (lambda c: c.add_template("good-01", name="n", subject="s"), "html_body"),
        (
            lambda c: c.add_template("good-01", name="n", subject="s", text_body="t", template_variables={"a": [1]}),
            "template_variables.a",
        ),
        (lambda c: c.add_template("good-01", name="n", subject="s", text_body="t", tags=["ok", ""]), "tags[1]"),
        (lambda c: c.edit_template("good-01"), "id"),
        (lambda c: c.edit_template("good-01", new_id="no"), "new_id"),
        (lambda c: c.delete_template("with space"), "template_id"),
        (lambda c: c.search_templates(page_size=0), "page_size"),
    ],
)
def test_bad_input_is_refused_before_the_network(
    smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient, call: object, field: str
) -> None:
    with pytest.raises(Smtp2goValidationError) as caught:
        call(client)  # type: ignore[operator]
    assert caught.value.field == field
    assert smtp2go_sandbox.state.request_count() == 0


def test_the_async_client_has_the_same_methods(smtp2go_sandbox: Smtp2goSandbox) -> None:
    async def run() -> list[str]:
        async with AsyncSmtp2goClient(smtp2go_sandbox.api_key, base_url=smtp2go_sandbox.base_url) as c:
            await c.add_template("async-01", name="Async", subject="s", text_body="t")
            await c.edit_template("async-01", subject="changed")
            subject = (await c.view_template("async-01"))["subject"]
            await c.delete_template("async-01")
            return [subject, *(t["id"] for t in (await c.search_templates())["templates"])]

    assert asyncio.run(run()) == ["changed"]
