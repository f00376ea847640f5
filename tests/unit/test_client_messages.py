"""Every validation rule of ``Email``/``Attachment``: bad input is refused before any network call."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_smtp2go.client import Attachment, Email, Smtp2goValidationError
from airflow_provider_smtp2go.client.messages import header_text, normalize_address


def make(**overrides: object) -> Email:
    fields: dict[str, object] = {
        "sender": "Reports <reports@example.com>",
        "to": ["ops@example.com"],
        "subject": "Daily report",
        "text_body": "All good.",
    }
    fields.update(overrides)
    return Email(**fields)  # type: ignore[arg-type]


def rule_of(excinfo: pytest.ExceptionInfo[Smtp2goValidationError]) -> tuple[str, str]:
    return excinfo.value.field, excinfo.value.rule


def test_minimal_email_builds_the_documented_payload() -> None:
    payload = make(html_body="<p>All good.</p>").to_payload()
    assert payload == {
        "sender": "Reports <reports@example.com>",
        "to": ["ops@example.com"],
        "subject": "Daily report",
        "text_body": "All good.",
        "html_body": "<p>All good.</p>",
    }


def test_recipients_accept_comma_strings_and_quoted_names_with_commas() -> None:
    mail = make(to='"Doe, Jane" <jane@example.com>, bob@example.com', cc="a@example.com; b@example.com")
    assert mail.to == ('"Doe, Jane" <jane@example.com>', "bob@example.com")
    assert mail.cc == ("a@example.com", "b@example.com")
    assert mail.recipients == (*mail.to, *mail.cc)


@pytest.mark.parametrize(
    "bad",
    ["not-an-address", "a@", "@example.com", "two@example.com three@example.com", "a@localhost", ""],
)
def test_bad_addresses_are_refused_naming_the_field(bad: str) -> None:
    with pytest.raises(Smtp2goValidationError) as excinfo:
        make(to=["ok@example.com", bad] if bad else [bad])
    field, rule = rule_of(excinfo)
    assert field.startswith("to[")
    assert rule in ("address", "required")
    assert isinstance(excinfo.value, ValueError)


def test_sender_is_validated() -> None:
    with pytest.raises(Smtp2goValidationError) as excinfo:
        make(sender="nobody")
    assert rule_of(excinfo) == ("sender", "address")


@pytest.mark.parametrize("field", ["to", "cc", "bcc"])
def test_more_than_100_recipients_per_field_is_refused(field: str) -> None:
    many = [f"user{i}@example.com" for i in range(101)]
    with pytest.raises(Smtp2goValidationError) as excinfo:
        make(**{field: many})
    assert rule_of(excinfo) == (field, "max_recipients")
    make(**{field: many[:100]})  # exactly 100 is fine


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "Hello\r\nBcc: victim@example.com"),
        ("sender", "a@example.com\nBcc: x@example.com"),
        ("reply_to", "a@example.com\r\nX: y"),
    ],
)
def test_crlf_in_header_fields_is_refused(field: str, value: str) -> None:
    with pytest.raises(Smtp2goValidationError) as excinfo:
        make(**{field: value})
    assert excinfo.value.rule == "crlf"


def test_crlf_in_custom_header_value_is_refused() -> None:
    with pytest.raises(Smtp2goValidationError) as excinfo:
        make(custom_headers={"X-Tag": "a\r\nBcc: victim@example.com"})
    assert excinfo.value.rule == "crlf"


@pytest.mark.parametrize("name", ["Content-Type", "content-transfer-encoding", "MIME-Version"])
def test_forbidden_custom_headers_are_refused(name: str) -> None:
    with pytest.raises(Smtp2goValidationError) as excinfo:
        make(custom_headers={name: "x"})
    assert rule_of(excinfo) == ("custom_headers", "forbidden_header")


def test_invalid_header_name_is_refused() -> None:
    with pytest.raises(Smtp2goValidationError) as excinfo:
        make(custom_headers={"Bad Name:": "x"})
    assert excinfo.value.rule == "header_name"


def test_custom_headers_and_reply_to_go_into_custom_headers() -> None:
    payload = make(custom_headers=[("X-Job", "42")], reply_to="Help <help@example.com>").to_payload()
    assert payload["custom_headers"] == [
        {"header": "X-Job", "value": "42"},
        {"header": "Reply-To", "value": "Help <help@example.com>"},
    ]


def test_body_or_template_is_required() -> None:
    with pytest.raises(Smtp2goValidationError) as excinfo:
        make(text_body=None)
    assert rule_of(excinfo) == ("body", "required")
    with pytest.raises(Smtp2goValidationError) as excinfo:
        make(subject=" ")
    assert rule_of(excinfo) == ("subject", "required")


def test_template_replaces_subject_and_body() -> None:
    mail = make(subject=None, text_body=None, template_id="welcome-1", template_data={"name": "Ann"})
    payload = mail.to_payload()
    assert payload["template_id"] == "welcome-1"
    assert payload["template_data"] == {"name": "Ann"}
    assert "subject" not in payload


def test_template_data_must_be_json_and_needs_template_id() -> None:
    with pytest.raises(Smtp2goValidationError) as excinfo:
        make(subject=None, text_body=None, template_id="t-1", template_data={"when": object()})
    assert rule_of(excinfo) == ("template_data", "json")
    with pytest.raises(Smtp2goValidationError) as excinfo:
        make(template_data={"a": 1})
    assert rule_of(excinfo) == ("template_data", "requires")


def test_size_limit_counts_attachments_after_base64() -> None:
    blob = b"\x00" * 800_000  # 800 kB raw -> ~1.07 MB base64
    mail = make(attachments=[Attachment.from_bytes("data.bin", blob)])
    with pytest.raises(Smtp2goValidationError) as excinfo:
        mail.to_payload(max_size_bytes=1_000_000)
    assert rule_of(excinfo) == ("size", "max_size")
    assert "base64" in str(excinfo.value)
    payload = mail.to_payload(max_size_bytes=2_000_000)
    assert base64.b64decode(payload["attachments"][0]["fileblob"]) == blob


def test_attachments_from_path_bytes_and_url(tmp_path: Path) -> None:
    report = tmp_path / "report.csv"
    report.write_text("a,b\n1,2\n")
    mail = make(
        attachments=[str(report), Attachment.from_bytes("x.json", b"{}"), "https://example.com/files/logo.png?v=2"],
        inlines=[Attachment.from_url("https://example.com/pic.jpg")],
    )
    attachments = mail.to_payload()["attachments"]
    assert [a["filename"] for a in attachments] == ["report.csv", "x.json", "logo.png"]
    assert attachments[0]["mimetype"] == "text/csv"
    assert base64.b64decode(attachments[0]["fileblob"]) == b"a,b\n1,2\n"
    assert attachments[2] == {
        "filename": "logo.png",
        "mimetype": "image/png",
        "url": "https://example.com/files/logo.png?v=2",
    }


def test_missing_attachment_file_fails_before_sending(tmp_path: Path) -> None:
    with pytest.raises(Smtp2goValidationError) as excinfo:
        make(attachments=[tmp_path / "missing.pdf"])
    assert rule_of(excinfo) == ("attachments[0]", "file")


def test_attachment_needs_exactly_one_source() -> None:
    with pytest.raises(Smtp2goValidationError):
        Attachment(filename="a.txt")
    with pytest.raises(Smtp2goValidationError):
        Attachment(filename="a.txt", content=b"x", url="https://example.com/a.txt")
    with pytest.raises(Smtp2goValidationError):
        Attachment.from_url("ftp://example.com/a.txt")


def test_schedule_must_be_aware_future_and_within_three_days() -> None:
    now = datetime.now(timezone.utc)
    with pytest.raises(Smtp2goValidationError) as excinfo:
        make(schedule=datetime(2030, 1, 1, 12, 0))
    assert rule_of(excinfo) == ("schedule", "timezone")
    with pytest.raises(Smtp2goValidationError) as excinfo:
        make(schedule=now - timedelta(minutes=1))
    assert excinfo.value.rule == "future"
    with pytest.raises(Smtp2goValidationError) as excinfo:
        make(schedule=now + timedelta(days=4))
    assert excinfo.value.rule == "window"
    when = (now + timedelta(hours=2)).astimezone(timezone(timedelta(hours=12)))
    assert make(schedule=when).to_payload()["schedule"] == when.strftime("%Y-%m-%d %H:%M:%S +1200")


def test_fastaccept_flag_is_sent_only_when_set() -> None:
    assert "fastaccept" not in make().to_payload()
    assert make(fastaccept=True).to_payload()["fastaccept"] is True


def test_payload_is_json_serialisable_without_nulls() -> None:
    payload = make(cc=None, bcc=[]).to_payload()
    assert "null" not in json.dumps(payload)
    assert "cc" not in payload and "bcc" not in payload


def test_normalize_address_keeps_display_name() -> None:
    assert normalize_address("  Jane Doe <jane@example.com> ") == "Jane Doe <jane@example.com>"


@pytest.mark.parametrize(
    "address",
    [
        "ops@example.com",
        "Jane Doe <jane@example.com>",
        "a.b+tag@mail.example.co.uk",
        "J <j@example.org>",
        "o'neil@example.com",
        "x_y-z@sub-domain.example.com",
    ],
)
def test_fast_path_agrees_with_the_stdlib_parser(address: str) -> None:
    from email.headerregistry import HeaderRegistry

    canonical = str(HeaderRegistry()("to", address).addresses[0])
    assert normalize_address(address) == canonical


@pytest.mark.parametrize("address", ["a..b@example.com", "a@example", "Jane <jane@example.com", "a b@example.com"])
def test_fast_path_does_not_accept_what_the_parser_would_refuse(address: str) -> None:
    with pytest.raises(Smtp2goValidationError):
        normalize_address(address)


# -- header-bound text: one rule for every field that ends up in a header -----------------------

UNSAFE_IN_HEADERS = ["\x00", "\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1b", "\x7f", "\x9b"]


@pytest.mark.parametrize("char", UNSAFE_IN_HEADERS)
@pytest.mark.parametrize(
    ("field", "build"),
    [
        ("subject", lambda c: make(subject=f"Report{c}Bcc: victim@example.com")),
        ("custom_headers[X-Tag]", lambda c: make(custom_headers={"X-Tag": f"a{c}b"})),
        ("sender", lambda c: make(sender=f"Reports{c}Desk <reports@example.com>")),
        ("to[0]", lambda c: make(to=[f"Ops{c} <ops@example.com>"])),
        ("attachments.filename", lambda c: make(attachments=[Attachment.from_bytes(f"a{c}.txt", b"x")])),
        ("template_id", lambda c: make(subject=None, text_body=None, template_id=f"t{c}1")),
    ],
)
def test_control_characters_and_line_separators_are_refused_naming_the_field(char: str, field: str, build: Any) -> None:
    with pytest.raises(Smtp2goValidationError) as excinfo:
        build(char)
    assert rule_of(excinfo) == (field, "control")
    assert f"U+{ord(char):04X}" in str(excinfo.value)


def test_a_tab_is_still_fine_in_a_subject() -> None:
    assert make(subject="Report\tQ3").subject == "Report\tQ3"


@pytest.mark.parametrize("name", ["To", "cc", "BCC", "From", "sender"])
def test_address_headers_cannot_be_set_as_custom_headers(name: str) -> None:
    # They would get round address validation and the 100-recipient cap.
    with pytest.raises(Smtp2goValidationError) as excinfo:
        make(custom_headers={name: "victim@example.com"})
    assert rule_of(excinfo) == ("custom_headers", "forbidden_header")


# -- wrong types: a Smtp2goValidationError naming the field, never TypeError or a silent str() --


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"to": 42}, "to"),
        ({"to": {"ops@example.com": 1}}, "to"),
        ({"to": ["ok@example.com", 7]}, "to[1]"),
        ({"cc": b"copy@example.com"}, "cc"),
        ({"sender": 5}, "sender"),
        ({"subject": 42}, "subject"),
        ({"subject": b"Daily report"}, "subject"),
        ({"text_body": 1}, "text_body"),
        ({"html_body": {"p": "hi"}}, "html_body"),
        ({"reply_to": ["a@example.com"]}, "reply_to"),
        ({"subject": None, "text_body": None, "template_id": 42}, "template_id"),
        ({"subject": None, "text_body": None, "template_id": "t", "template_data": ["a"]}, "template_data"),
        ({"custom_headers": "X-Tag: a"}, "custom_headers"),
        ({"custom_headers": {"X-Tag": None}}, "custom_headers[X-Tag]"),
        ({"custom_headers": {"X-Flag": True}}, "custom_headers[X-Flag]"),
        ({"custom_headers": {1: "a"}}, "custom_headers"),
        ({"attachments": 3}, "attachments"),
        ({"attachments": [3]}, "attachments[0]"),
        ({"inlines": b"logo.png"}, "inlines"),
        ({"schedule": 1757466900}, "schedule"),
        ({"fastaccept": "yes"}, "fastaccept"),
        ({"fastaccept": 1}, "fastaccept"),
    ],
)
def test_wrong_types_are_refused_naming_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(Smtp2goValidationError) as excinfo:
        make(**overrides)
    assert excinfo.value.field == field
    assert excinfo.value.rule == "type"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_template_data_that_json_cannot_carry_is_refused(value: float) -> None:
    with pytest.raises(Smtp2goValidationError) as excinfo:
        make(subject=None, text_body=None, template_id="t-1", template_data={"ratio": value})
    assert rule_of(excinfo) == ("template_data", "json")


@pytest.mark.parametrize(("given", "sent"), [("false", False), ("False", False), (" TRUE ", True), (False, False)])
def test_fastaccept_reads_true_and_false_strictly(given: object, sent: bool) -> None:
    mail = make(fastaccept=given)
    assert mail.fastaccept is sent
    assert ("fastaccept" in mail.to_payload()) is sent


def test_an_int_header_value_is_sent_as_its_digits() -> None:
    assert make(custom_headers={"X-Priority": 1}).to_payload()["custom_headers"] == [
        {"header": "X-Priority", "value": "1"}
    ]


def test_a_bare_string_attachment_is_one_path_not_its_characters(tmp_path: Path) -> None:
    report = tmp_path / "report.csv"
    report.write_text("a,b\n")
    mail = make(attachments=str(report), inlines=report)
    assert [a.filename for a in mail.attachments] == ["report.csv"]  # type: ignore[union-attr]
    assert [a.filename for a in mail.inlines] == ["report.csv"]  # type: ignore[union-attr]


def test_recipient_list_items_may_hold_several_addresses() -> None:
    mail = make(to=["a@example.com, b@example.com", '"Doe, Jane" <jane@example.com>'])
    assert mail.to == ("a@example.com", "b@example.com", '"Doe, Jane" <jane@example.com>')
    with pytest.raises(Smtp2goValidationError) as excinfo:
        make(to=[", ".join(f"u{i}@example.com" for i in range(60))] * 2)
    assert rule_of(excinfo) == ("to", "max_recipients")


def test_schedule_strings_are_parsed_with_their_timezone() -> None:
    when = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(hours=2)
    expected = when.strftime("%Y-%m-%d %H:%M:%S +0000")
    for text in (when.isoformat(), when.strftime("%Y-%m-%dT%H:%M:%SZ"), expected):
        assert make(schedule=text).to_payload()["schedule"] == expected
    later = when.astimezone(timezone(timedelta(hours=12))).strftime("%Y-%m-%d %H:%M:%S %z")
    assert make(schedule=later).to_payload()["schedule"] == later


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("tomorrow-ish", "format"),
        ("2030-01-01 12:00:00", "timezone"),
        ("2020-01-01T00:00:00+00:00", "future"),
        ("2999-01-01T00:00:00Z", "window"),
    ],
)
def test_bad_schedule_strings_are_refused(text: str, rule: str) -> None:
    with pytest.raises(Smtp2goValidationError) as excinfo:
        make(schedule=text)
    assert rule_of(excinfo) == ("schedule", rule)


# -- internationalised addresses ------------------------------------------------------------------


def test_an_idn_domain_is_sent_idna_encoded() -> None:
    mail = make(sender="Bücher <shop@bücher.example>", to="user@bücher.example", cc=["Ops <ops@MÜNCHEN.de>"])
    assert mail.sender == "Bücher <shop@xn--bcher-kva.example>"
    assert mail.to == ("user@xn--bcher-kva.example",)
    assert mail.cc == ("Ops <ops@xn--mnchen-3ya.de>",)


@pytest.mark.parametrize(
    ("address", "rule"),
    [
        ("jürgen@example.com", "non_ascii"),
        ("user@straße.de", "idna"),  # IDNA 2003 would quietly send to strasse.de
        ("user@a\u200dexample.com", "idna"),
        (f"user@{'ü' * 70}.example", "idna"),
    ],
)
def test_addresses_that_cannot_be_sent_as_written_are_refused_clearly(address: str, rule: str) -> None:
    with pytest.raises(Smtp2goValidationError) as excinfo:
        make(to=address)
    assert rule_of(excinfo) == ("to[0]", rule)


@pytest.mark.parametrize("char", UNSAFE_IN_HEADERS)
def test_the_logging_handler_cleans_subjects_to_what_email_accepts(char: str) -> None:
    # Otherwise an alert whose first line holds such a character would be refused, and lost.
    from logging_handler.formatting import MailFormatter

    subject = MailFormatter(hostname="web-1").clean_subject(f"disk{char}full")
    assert header_text("subject", subject) == "disk full"
