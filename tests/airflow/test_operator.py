"""Smtp2goSendEmailOperator against the sandbox (no DB): fields, attachments, errors, templating."""

from __future__ import annotations

import base64
import os
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_smtp2go._compat import (
    AirflowException,
    AirflowFailException,
    object_storage_path_class,
)
from airflow_provider_smtp2go.client import Attachment
from airflow_provider_smtp2go.operators.smtp2go import Smtp2goSendEmailOperator


def make(**kwargs: Any) -> Smtp2goSendEmailOperator:
    kwargs.setdefault("task_id", "send")
    kwargs.setdefault("to", "someone@example.com")
    kwargs.setdefault("subject", "Hello")
    kwargs.setdefault("text_body", "Hi there")
    return Smtp2goSendEmailOperator(**kwargs)


def test_arguments_are_keyword_only() -> None:
    # Airflow 2's operator metaclass reports it as an AirflowException.
    with pytest.raises((TypeError, AirflowException)):
        Smtp2goSendEmailOperator("send", "a@example.com")  # type: ignore[misc]


def test_every_field_reaches_smtp2go_and_xcom_is_small(smtp2go_conn, tmp_path: Path) -> None:
    local = tmp_path / "figures.csv"
    local.write_text("a,b\n1,2\n")
    stored_dir = object_storage_path_class()(f"file://{tmp_path}/store")
    stored_dir.mkdir(parents=True, exist_ok=True)
    stored = stored_dir / "summary.txt"
    stored.write_text("stored in object storage")
    logo = tmp_path / "logo.png"
    logo.write_bytes(b"\x89PNG fake")
    when = datetime.now(timezone.utc) + timedelta(hours=2)

    result = make(
        to=["one@example.com", "two@example.com"],
        cc="copy@example.com",
        bcc=["hidden@example.com"],
        sender="Reports <reports@example.com>",
        reply_to="replies@example.com",
        subject="Quarterly",
        html_body="<p>Hi</p>",
        text_body="Hi",
        custom_headers={"X-Report": "q3"},
        attachments=[
            str(local),
            stored,
            "https://files.example.com/terms.pdf",
            {"content": "inline text", "filename": "note.txt"},
            Attachment.from_bytes("raw.bin", b"\x00\x01"),
        ],
        inlines=[str(logo)],
        schedule=when,
    ).execute({})

    assert set(result) >= {"email_id", "request_id", "succeeded", "failed"}
    assert result["failed"] == 0
    assert len(str(result)) < 400  # XCom-sized: no bodies or attachments in it
    (message,) = smtp2go_conn.sandbox.messages()
    assert message.email_id == result["email_id"]
    assert message.to == ["one@example.com", "two@example.com"]
    assert message.cc == ["copy@example.com"]
    assert message.bcc == ["hidden@example.com"]
    assert message.sender_address == "reports@example.com"
    assert message.subject == "Quarterly"
    assert message.html_body == "<p>Hi</p>"
    assert message.custom_headers.get("X-Report") == "q3"
    assert message.custom_headers.get("Reply-To") == "replies@example.com"
    attachments = {a.filename: a for a in message.attachments}
    assert attachments["figures.csv"].size == len(b"a,b\n1,2\n")
    assert attachments["figures.csv"].mimetype == "text/csv"
    assert attachments["summary.txt"].size == len(b"stored in object storage")
    assert attachments["terms.pdf"].url == "https://files.example.com/terms.pdf"
    assert attachments["note.txt"].size == len(b"inline text")
    assert attachments["raw.bin"].size == 2
    assert [i.filename for i in message.inlines] == ["logo.png"]
    assert message.scheduled_for is not None


def test_sender_defaults_to_the_connection(smtp2go_conn) -> None:
    make().execute({})
    assert smtp2go_conn.sandbox.messages()[0].sender_address == smtp2go_conn.extra["sender"]


def test_smtp2go_template_with_data(smtp2go_conn) -> None:
    smtp2go_conn.sandbox.add_template("welcome", "Welcome {{ name }}", "<p>Hi {{ name }}</p>", "Hi {{ name }}")
    make(subject=None, text_body=None, template_id="welcome", template_data={"name": "Ada"}).execute({})
    (message,) = smtp2go_conn.sandbox.messages()
    assert message.template_id == "welcome"
    assert message.template_data == {"name": "Ada"}


def test_fastaccept_is_sent(smtp2go_conn) -> None:
    result = make(fastaccept=True).execute({})
    assert result["email_id"] or result["request_id"]
    assert smtp2go_conn.sandbox.request_count("email/send") == 1


def test_invalid_input_fails_without_retries_or_requests(smtp2go_conn) -> None:
    with pytest.raises(AirflowFailException, match=r"to\[0\].*not-an-address"):
        make(to="not-an-address").execute({})
    with pytest.raises(AirflowFailException, match="cannot read"):
        make(attachments=["/definitely/not/here.csv"]).execute({})
    assert smtp2go_conn.sandbox.request_count() == 0


def test_missing_sender_is_a_clear_permanent_error(smtp2go_conn, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    extra = {k: v for k, v in smtp2go_conn.extra.items() if k != "sender"}
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP2GO_DEFAULT",
        json.dumps({"conn_type": "smtp2go", "password": smtp2go_conn.api_key, "extra": extra}),
    )
    with pytest.raises(AirflowFailException, match="sender"):
        make().execute({})


def test_api_400_fails_permanently_with_the_original_message(smtp2go_conn) -> None:
    smtp2go_conn.sandbox.inject_fault("email/send", status=400, count=1)
    with pytest.raises(AirflowFailException) as info:
        make().execute({})
    assert "Smtp2goApiError" in str(info.value) or "400" in str(info.value)
    assert smtp2go_conn.sandbox.request_count("email/send") == 1


def test_unknown_key_fails_permanently(smtp2go_conn, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP2GO_DEFAULT",
        json.dumps({"conn_type": "smtp2go", "password": "api-" + "Z" * 32, "extra": smtp2go_conn.extra}),
    )
    with pytest.raises(AirflowFailException, match="Smtp2goAuthError"):
        make().execute({})
    assert smtp2go_conn.sandbox.messages() == []


def test_ambiguous_send_is_not_retried_and_explains_what_to_check(smtp2go_conn) -> None:
    smtp2go_conn.sandbox.inject_fault("email/send", status=500, count=1)
    with pytest.raises(AirflowFailException) as info:
        make().execute({})
    text = str(info.value)
    assert "email may or may not have been accepted" in text
    assert "search_activity" in text
    assert "retry_ambiguous_sends=True" in text
    assert smtp2go_conn.sandbox.request_count("email/send") == 1


def test_ambiguous_send_retried_when_the_user_opts_in(smtp2go_conn) -> None:
    smtp2go_conn.sandbox.inject_fault("email/send", status=500, count=1)
    result = make(retry_ambiguous_sends=True).execute({})
    assert smtp2go_conn.sandbox.request_count("email/send") == 2
    assert [m.email_id for m in smtp2go_conn.sandbox.messages()] == [result["email_id"]]


def test_opted_in_ambiguous_send_that_stays_ambiguous_leaves_airflow_retries(smtp2go_conn) -> None:
    smtp2go_conn.sandbox.inject_fault("email/send", status=502, count=10)
    with pytest.raises(AirflowException) as info:
        make(retry_ambiguous_sends=True).execute({})
    assert not isinstance(info.value, AirflowFailException)
    assert "To let Airflow repeat" not in str(info.value)  # no advice to do what they already did
    assert smtp2go_conn.sandbox.request_count("email/send") == 2


def test_outage_after_client_retries_leaves_airflow_retries_available(smtp2go_conn) -> None:
    smtp2go_conn.sandbox.inject_fault("email/send", status=503, count=10)
    with pytest.raises(AirflowException) as info:
        make().execute({})
    assert not isinstance(info.value, AirflowFailException)
    assert smtp2go_conn.sandbox.request_count("email/send") == 2  # the connection's max_attempts


def test_fields_render_and_html_attachments_are_not_templates(smtp2go_conn, tmp_path: Path) -> None:
    from airflow_provider_smtp2go._compat import DAG

    (tmp_path / "body.html").write_text("<h1>Report {{ ds }}</h1>")
    page = tmp_path / "page.html"
    page.write_text("<p>attached as a file, {{ not rendered }}</p>")
    with DAG("render_test", schedule=None, start_date=datetime(2025, 1, 1), template_searchpath=[str(tmp_path)]):
        op = make(
            to="{{ params.who }}@example.com",
            subject="Report {{ ds }}",
            html_body="body.html",
            attachments=[str(page)],
            custom_headers={"X-Day": "{{ ds }}"},
        )
    op.resolve_template_files()
    op.render_template_fields({"ds": "2025-03-04", "params": {"who": "ada"}})
    assert op.to == "ada@example.com"
    assert op.subject == "Report 2025-03-04"
    assert op.html_body == "<h1>Report 2025-03-04</h1>"
    assert op.custom_headers == {"X-Day": "2025-03-04"}
    assert op.attachments == [str(page)]
    op.execute({})
    (message,) = smtp2go_conn.sandbox.messages()
    assert message.to == ["ada@example.com"]
    assert message.attachments[0].filename == "page.html"
    assert message.attachments[0].size == len(page.read_bytes())


def test_fileblob_is_the_file_content(smtp2go_conn, tmp_path: Path) -> None:
    # The sandbox keeps sizes only; check the payload the client builds from our resolution.
    from airflow_provider_smtp2go.utils.attachments import resolve_attachments

    data = b"binary\x00content"
    (tmp_path / "x.bin").write_bytes(data)
    (attachment,) = resolve_attachments(str(tmp_path / "x.bin"))
    assert base64.b64decode(attachment.to_payload()["fileblob"]) == data


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"custom_headers": {"Bcc": "everyone@example.com"}}, "custom_headers"),
        ({"subject": "Report\u2028Bcc: victim@example.com"}, "subject"),
        ({"custom_headers": {"X-Job": None}}, "custom_headers[X-Job]"),
        ({"to": 42}, "to"),
        ({"subject": b"bytes"}, "subject"),
        ({"html_body": {"p": 1}}, "html_body"),
        ({"schedule": "next tuesday"}, "schedule"),
        ({"fastaccept": "maybe"}, "fastaccept"),
        ({"to": "jürgen@example.com"}, "to[0]"),
        ({"attachments": ["/dev/zero"]}, "attachments[0]"),
    ],
)
def test_hostile_input_fails_permanently_naming_the_field_before_any_request(
    smtp2go_conn, overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(AirflowFailException, match=rf"^Smtp2goValidationError: {re.escape(field)}: "):
        make(**overrides).execute({})
    assert smtp2go_conn.sandbox.request_count() == 0


@pytest.mark.timeout(60)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_a_fifo_attachment_fails_at_once_also_through_object_storage(smtp2go_conn, tmp_path: Path) -> None:
    fifo = tmp_path / "report.csv"
    os.mkfifo(fifo)
    for spec in (str(fifo), object_storage_path_class()(f"file://{fifo}"), {"path": str(fifo), "filename": "r.csv"}):
        with pytest.raises(AirflowFailException, match=r"attachments\[1\].*FIFO"):
            make(attachments=["https://example.com/terms.pdf", spec]).execute({})
    assert smtp2go_conn.sandbox.request_count() == 0


def test_fastaccept_false_as_text_is_false(smtp2go_conn) -> None:
    op = make(fastaccept="false")
    assert op.build_email(op.hook).fastaccept is False


def test_an_idn_recipient_arrives_idna_encoded(smtp2go_conn) -> None:
    make(to="Kunde <kunde@bücher.example>").execute({})
    (message,) = smtp2go_conn.sandbox.messages()
    assert message.to == ["Kunde <kunde@xn--bcher-kva.example>"]


def test_recipient_items_that_render_empty_are_dropped_and_joined_items_split(smtp2go_conn) -> None:
    op = make(to=["{{ params.a }}", "{{ params.b }}", "c@example.com, d@example.com"])
    op.render_template_fields({"params": {"a": "a@example.com", "b": ""}})
    op.execute({})
    (message,) = smtp2go_conn.sandbox.messages()
    assert message.to == ["a@example.com", "c@example.com", "d@example.com"]
