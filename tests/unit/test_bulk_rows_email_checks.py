"""Bulk rows become ``Email`` objects, so every rule of ``Email`` applies to each row too."""

from __future__ import annotations

import pytest

from airflow_provider_smtp2go.bulk import InvalidRowsError, MessageTemplate, prepare_rows

TEMPLATE = MessageTemplate(
    sender="Billing <billing@example.com>",
    to="{{ email }}",
    subject="Invoice {{ invoice }}",
    text_body="Hi {{ name }}",
    custom_headers={"X-Customer": "{{ name }}"},
)


def test_hostile_row_values_are_refused_by_row_and_field() -> None:
    rows = [
        {"email": "ok@example.com", "name": "Ann", "invoice": 1},
        {"email": "ok@example.com", "name": "Bob", "invoice": "7\u2028Bcc: everyone@example.com"},
        {"email": "ok@example.com", "name": "Eve\x00", "invoice": 3},
        {"email": "jürgen@example.com", "name": "Jürgen", "invoice": 4},
    ]
    with pytest.raises(InvalidRowsError) as info:
        prepare_rows(rows, TEMPLATE, namespace="n")
    errors = {(e.index, e.field, e.rule) for e in info.value.errors}
    assert errors == {
        (1, "subject", "control"),
        (2, "custom_headers[X-Customer]", "control"),
        (3, "to[0]", "non_ascii"),
    }


def test_an_idn_row_address_is_idna_encoded() -> None:
    batch = prepare_rows([{"email": "kunde@bücher.example", "name": "K", "invoice": 1}], TEMPLATE, namespace="n")
    assert batch.valid[0].email.to == ("kunde@xn--bcher-kva.example",)
