"""``email_fields``: Airflow-level fields to an ``Email``, and the one way to pick a sender."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_smtp2go.client import Smtp2goValidationError
from airflow_provider_smtp2go.email_fields import build_email, resolve_sender


def test_the_given_sender_wins_and_the_connection_is_not_asked() -> None:
    def connection_sender() -> str:
        raise AssertionError("the connection was fetched although a sender was given")

    assert resolve_sender("Team <team@example.com>", connection_sender, hint="h") == "Team <team@example.com>"


@pytest.mark.parametrize("given", [None, "", "  ", "airflow@airflow"])
def test_an_unset_or_placeholder_sender_falls_back_to_the_connection(given: str | None) -> None:
    assert resolve_sender(given, lambda: "ops@example.com", hint="h") == "ops@example.com"


@pytest.mark.parametrize("connection", [None, "", "airflow@airflow"])
def test_no_sender_anywhere_is_one_clear_error(connection: str | None) -> None:
    with pytest.raises(Smtp2goValidationError) as excinfo:
        resolve_sender(None, connection, hint="pass sender= to 'send'")
    assert (excinfo.value.field, excinfo.value.rule) == ("sender", "required")
    assert str(excinfo.value) == "sender: no sender is set: pass sender= to 'send'"


def test_a_sender_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(Smtp2goValidationError) as excinfo:
        resolve_sender(["a@example.com"], None, hint="h")
    assert (excinfo.value.field, excinfo.value.rule) == ("sender", "type")


def test_rendered_blanks_count_as_unset(tmp_path: Path) -> None:
    email = build_email(
        sender="bot@example.com",
        to=["a@example.com", "", None, "b@example.com; c@example.com"],
        cc="",
        subject="s",
        text_body="",
        html_body="<p>x</p>",
        reply_to="",
        custom_headers={},
        template_data={},
        schedule="",
        attachments=[],
    )
    assert email.to == ("a@example.com", "b@example.com", "c@example.com")
    assert (email.cc, email.reply_to, email.text_body, email.schedule, email.attachments) == ((), None, None, None, ())
    assert "text_body" not in email.to_payload()


def test_attachment_errors_name_the_field_and_position(tmp_path: Path) -> None:
    with pytest.raises(Smtp2goValidationError) as excinfo:
        build_email(sender="bot@example.com", to="a@example.com", subject="s", text_body="b", inlines=["x", 5])
    assert excinfo.value.field == "inlines[0]"  # "x" does not exist
    with pytest.raises(Smtp2goValidationError) as excinfo:
        build_email(
            sender="bot@example.com", to="a@example.com", subject="s", text_body="b", attachments=[{"content": 1}]
        )
    assert excinfo.value.field == "attachments[0]"


def test_a_bare_path_is_one_attachment(tmp_path: Path) -> None:
    report = tmp_path / "report.csv"
    report.write_text("a\n")
    email = build_email(
        sender="bot@example.com", to="a@example.com", subject="s", text_body="b", attachments=str(report)
    )
    assert [a.filename for a in email.attachments] == ["report.csv"]  # type: ignore[union-attr]
