"""Rows: loading, rendering, validation by index and field, and stable idempotency keys."""

from __future__ import annotations

import json

import pytest

from airflow_provider_smtp2go.bulk import (
    IDEMPOTENCY_HEADER,
    InvalidRowsError,
    MessageTemplate,
    idempotency_key,
    load_rows,
    prepare_rows,
)
from airflow_provider_smtp2go.client import Smtp2goValidationError

TEMPLATE = MessageTemplate(
    sender="Billing <billing@example.com>",
    to="{{ email }}",
    subject="Invoice {{ invoice }}",
    text_body="Hi {{ name }}, your invoice: {{ url }}",
    html_body="<p>Hi {{ name }}</p>",
)


def _row(i: int, **extra: object) -> dict[str, object]:
    return {"email": f"user{i}@example.com", "name": f"User {i}", "invoice": i, "url": f"https://x.test/{i}", **extra}


def test_every_row_rendered_with_its_own_values_and_key_header() -> None:
    batch = prepare_rows([_row(1), _row(2)], TEMPLATE, namespace="d/t/r/-1")
    assert [p.email.subject for p in batch.valid] == ["Invoice 1", "Invoice 2"]
    assert batch.valid[1].email.to == ("user2@example.com",)
    headers = dict(batch.valid[0].email.custom_headers)  # type: ignore[arg-type]
    assert headers[IDEMPOTENCY_HEADER] == batch.valid[0].key


def test_invalid_rows_reported_by_index_and_field_and_nothing_prepared() -> None:
    rows = [_row(0), {"email": "not-an-address", "name": "x", "invoice": 1, "url": "u"}, _row(2), "oops"]
    rows.append({"email": "ok@example.com", "name": "y", "url": "u"})  # no invoice
    with pytest.raises(InvalidRowsError) as info:
        prepare_rows(rows, TEMPLATE, namespace="n")
    errors = {(e.index, e.field, e.rule) for e in info.value.errors}
    assert errors == {(1, "to[0]", "address"), (3, "row", "type"), (4, "subject", "undefined")}
    assert "3 of 5 rows are invalid, nothing was sent" in str(info.value)
    assert "row 4: subject (undefined)" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_skip_keeps_valid_rows_and_lists_bad_ones() -> None:
    batch = prepare_rows(
        [_row(0), {"email": "bad", **_row(1)} | {"email": "bad"}, _row(2)], TEMPLATE, namespace="n", on_invalid="skip"
    )
    assert [p.index for p in batch.valid] == [0, 2]
    assert [(e.index, e.field) for e in batch.invalid] == [(1, "to[0]")]


def test_identical_rows_are_duplicates_not_two_emails() -> None:
    batch = prepare_rows([_row(0), _row(1), _row(0)], TEMPLATE, namespace="n", on_invalid="skip")
    assert [(e.index, e.rule, e.message) for e in batch.invalid] == [(2, "duplicate", "same content as row 0")]


def test_html_body_escapes_row_values_text_body_does_not() -> None:
    batch = prepare_rows([_row(0, name="<b>Jo & co</b>")], TEMPLATE, namespace="n")
    email = batch.valid[0].email
    assert email.html_body == "<p>Hi &lt;b&gt;Jo &amp; co&lt;/b&gt;</p>"
    assert email.text_body is not None and "<b>Jo & co</b>" in email.text_body


def test_header_injection_in_a_row_is_caught_per_row() -> None:
    with pytest.raises(InvalidRowsError) as info:
        prepare_rows([_row(0, invoice="1\r\nBcc: evil@example.com")], TEMPLATE, namespace="n")
    assert (info.value.errors[0].index, info.value.errors[0].field, info.value.errors[0].rule) == (0, "subject", "crlf")


def test_template_id_sends_row_as_template_data_or_mapped_fields() -> None:
    whole = MessageTemplate(sender="ops@example.com", template_id="invoice-v2")
    email = prepare_rows([_row(3)], whole, namespace="n").valid[0].email
    assert email.template_id == "invoice-v2"
    assert email.template_data == _row(3)
    mapped = MessageTemplate(
        sender="ops@example.com", template_id="invoice-v2", template_data={"who": "{{ name | upper }}", "fixed": 5}
    )
    email = prepare_rows([_row(3)], mapped, namespace="n").valid[0].email
    assert email.template_data == {"who": "USER 3", "fixed": 5}


def test_template_problems_fail_before_any_row() -> None:
    with pytest.raises(Smtp2goValidationError) as info:
        MessageTemplate(sender="a@example.com", subject="{{ unclosed", text_body="x").compile()
    assert (info.value.field, info.value.rule) == ("subject", "template")
    with pytest.raises(Smtp2goValidationError) as info:
        MessageTemplate(sender="a@example.com", subject="s").compile()
    assert info.value.field == "body"
    with pytest.raises(Smtp2goValidationError) as info:
        MessageTemplate(
            sender="a@example.com", subject="s", text_body="b", custom_headers={IDEMPOTENCY_HEADER: "mine"}
        ).compile()
    assert info.value.rule == "reserved"


def test_sandboxed_templates_cannot_reach_python_internals() -> None:
    evil = MessageTemplate(
        sender="a@example.com", subject="{{ ''.__class__.__mro__[1].__subclasses__() }}", text_body="x"
    )
    batch = prepare_rows([_row(0)], evil, namespace="n", on_invalid="skip")
    assert batch.valid == [] and batch.invalid[0].rule in {"template", "undefined"}


def test_oversized_row_reported_by_size() -> None:
    batch = prepare_rows([_row(0, name="x" * 5000)], TEMPLATE, namespace="n", on_invalid="skip", max_size_bytes=2000)
    assert (batch.invalid[0].index, batch.invalid[0].field, batch.invalid[0].rule) == (0, "size", "max_size")


# Wrong types: refused naming the field (and, for rows, the row), never a raw TypeError


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"to": 5}, "to"),
        ({"text_body": {"a": 1}}, "text_body"),
        ({"subject": b"Invoice"}, "subject"),
        ({"sender": None}, "sender"),
        ({"custom_headers": "X-Tag: 1"}, "custom_headers"),
        ({"custom_headers": {"X-Tag": 1}}, "custom_headers[X-Tag]"),
        ({"template_id": "t", "subject": None, "template_data": [1, 2]}, "template_data"),
    ],
)
def test_template_fields_of_the_wrong_type_are_refused_naming_the_field(fields: dict[str, object], field: str) -> None:
    base: dict[str, object] = {"sender": "ops@example.com", "subject": "s", "text_body": "b", **fields}
    with pytest.raises(Smtp2goValidationError) as info:
        MessageTemplate(**base)  # type: ignore[arg-type]
    assert (info.value.field, info.value.rule) == (field, "type")


def test_rows_of_the_wrong_shape_are_refused_per_row_naming_row_and_field() -> None:
    rows: list[object] = [
        _row(0),
        {**_row(1), 7: "int column"},  # not a column name
        _row(2, name=None),  # an empty cell: would be mailed as "Hi None"
        _row(3, email=None),
        _row(4, email=42),  # an int where the address goes
        ["not", "a", "mapping"],
    ]
    with pytest.raises(InvalidRowsError) as info:
        prepare_rows(rows, TEMPLATE, namespace="n")
    error = info.value
    assert isinstance(error, Smtp2goValidationError) and error.field == "rows"
    assert [(e.index, e.field, e.rule) for e in error.errors] == [
        (1, "row", "type"),
        (2, "text_body", "none"),
        (3, "to", "none"),
        (4, "to[0]", "address"),
        (5, "row", "type"),
    ]
    assert "row 1: row (type): column names must be strings, got 7 (int)" in str(error)
    assert "row 2: text_body (none)" in str(error)
    skipped = prepare_rows(rows, TEMPLATE, namespace="n", on_invalid="skip")
    assert [p.index for p in skipped.valid] == [0] and [e.index for e in skipped.invalid] == [1, 2, 3, 4, 5]


# Idempotency keys


def test_keys_are_stable_across_processes_and_key_order() -> None:
    # A literal pins the algorithm: changing it would resend every row of an in-progress job.
    assert idempotency_key("dag/task/run/-1", "tpl", {"email": "a@example.com"}) == idempotency_key(
        "dag/task/run/-1", "tpl", {"email": "a@example.com"}
    )
    assert idempotency_key("ns", "t", {"a": 1, "b": 2}) == idempotency_key("ns", "t", {"b": 2, "a": 1})
    assert idempotency_key("ns", "t", {"a": 1}) == "a267d8381007fad99efca6d1923d37f8"


def test_keys_change_with_row_template_or_task_identity() -> None:
    base = prepare_rows([_row(0)], TEMPLATE, namespace="d/t/r1/-1").valid[0].key
    assert prepare_rows([_row(0)], TEMPLATE, namespace="d/t/r1/-1").valid[0].key == base
    assert prepare_rows([_row(0, extra=1)], TEMPLATE, namespace="d/t/r1/-1").valid[0].key != base
    assert prepare_rows([_row(0)], TEMPLATE, namespace="d/t/r2/-1").valid[0].key != base
    other = MessageTemplate(sender=TEMPLATE.sender, subject="Changed {{ invoice }}", text_body="x")
    assert prepare_rows([_row(0)], other, namespace="d/t/r1/-1").valid[0].key != base


# Loading


def test_load_rows_from_csv_json_jsonl(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "r.csv").write_text("\ufeffemail,name\na@example.com,A\nb@example.com,B\n", encoding="utf-8")
    (tmp_path / "r.json").write_text(json.dumps([{"email": "a@example.com"}]), encoding="utf-8")
    (tmp_path / "r.jsonl").write_text('{"email": "a@example.com"}\n\n{"email": "b@example.com"}\n', encoding="utf-8")
    assert load_rows(str(tmp_path / "r.csv")) == [
        {"email": "a@example.com", "name": "A"},
        {"email": "b@example.com", "name": "B"},
    ]
    assert load_rows(tmp_path / "r.json") == [{"email": "a@example.com"}]
    assert [r["email"] for r in load_rows(tmp_path / "r.jsonl")] == ["a@example.com", "b@example.com"]
    assert load_rows('[{"email": "x@example.com"}]') == [{"email": "x@example.com"}]


def test_load_rows_errors_are_clear(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "r.txt").write_text("x", encoding="utf-8")
    with pytest.raises(Smtp2goValidationError, match=r"use a \.csv, \.json"):
        load_rows(tmp_path / "r.txt")
    with pytest.raises(Smtp2goValidationError, match="cannot read"):
        load_rows(str(tmp_path / "missing.csv"))
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n{oops\n', encoding="utf-8")
    with pytest.raises(Smtp2goValidationError, match="line 2"):
        load_rows(tmp_path / "bad.jsonl")
    with pytest.raises(Smtp2goValidationError, match="single mapping"):
        load_rows({"email": "a@example.com"})
