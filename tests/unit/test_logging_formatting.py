"""What recipients read: subjects (templates, CR/LF, length), escaped HTML, tracebacks."""

from __future__ import annotations

import logging
import logging.handlers
import queue
import sys

import pytest

from logging_handler.alert import Alert, fallback_alert, split_flattened
from logging_handler.formatting import MAX_DETAILED_GROUPS, MailFormatter, clip
from logging_handler.storm import GroupReport, Outgoing, fingerprint


def make_record(msg: str = "boom", *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("<bad & value>")
        except ValueError:
            exc_info = sys.exc_info()
    record = logging.getLogger("app.db").makeRecord(
        "app.db", logging.ERROR, "/srv/app/db.py", 42, msg, args, exc_info, func="connect", extra=extra or None
    )
    return record


def mail_for(*records: logging.LogRecord, kind: str = "alert", **kw: object) -> Outgoing:
    groups = tuple(GroupReport(fingerprint(r), 1, r.created, r.created, Alert.from_record(r), 1) for r in records)
    return Outgoing(kind, groups, **kw)  # type: ignore[arg-type]


def test_subject_template_uses_record_fields_hostname_and_extra() -> None:
    fmt = MailFormatter(hostname="web-1", subject="%(levelname)s|%(name)s|%(hostname)s|%(tenant)s|%(message)s")
    mail = mail_for(make_record("user %s failed", "bob", tenant="acme"))
    assert fmt.subject(mail) == "ERROR|app.db|web-1|acme|user bob failed"


def test_subject_strips_crlf_and_uses_only_the_first_line_of_the_message() -> None:
    fmt = MailFormatter(hostname="h", subject="%(message)s %(evil)s")
    mail = mail_for(make_record("first line\nsecond line", evil="x\r\nBcc: victim@example.com"))
    subject = fmt.subject(mail)
    assert "\r" not in subject and "\n" not in subject
    assert subject == "first line x Bcc: victim@example.com"


def test_subject_is_length_capped() -> None:
    fmt = MailFormatter(hostname="h", max_subject_length=40)
    subject = fmt.subject(mail_for(make_record("x" * 500)))
    assert len(subject) == 40
    assert subject.endswith("…")


def test_unknown_field_renders_a_dash_and_a_bad_template_fails_at_configuration() -> None:
    fmt = MailFormatter(hostname="h", subject="%(no_such_field)s: %(message)s")
    assert fmt.subject(mail_for(make_record("m"))) == "-: m"
    with pytest.raises(ValueError, match="subject"):
        MailFormatter(hostname="h", subject="%(message)d")
    with pytest.raises(ValueError, match="digest_subject"):
        MailFormatter(hostname="h", digest_subject="%(count")


def test_html_body_escapes_message_traceback_and_extra() -> None:
    fmt = MailFormatter(hostname="<host>")
    mail = mail_for(make_record("<script>alert(1)</script> & %s", "<b>", exc=True))
    body = fmt.html(mail)
    assert "<script>" not in body and "<b>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;" in body
    assert "ValueError: &lt;bad &amp; value&gt;" in body
    assert "&lt;host&gt;" in body


def test_text_body_has_message_location_and_traceback() -> None:
    text = MailFormatter(hostname="h").text(mail_for(make_record("db down", exc=True)))
    assert "db down" in text
    assert "/srv/app/db.py:42 in connect()" in text
    assert "Traceback (most recent call last):" in text
    assert "ValueError: <bad & value>" in text
    assert "Exception: ValueError" in text


def test_traceback_survives_a_queue_handler_that_flattened_exc_info() -> None:
    q: queue.Queue[logging.LogRecord] = queue.Queue()
    prepared = logging.handlers.QueueHandler(q).prepare(make_record("db down", exc=True))
    assert prepared.exc_info is None and prepared.exc_text is None
    alert = Alert.from_record(prepared)
    assert alert.message == "db down"
    assert alert.traceback is not None and alert.traceback.startswith("Traceback (most recent call last):")
    assert fingerprint(prepared)[4] == "ValueError"
    html = MailFormatter(hostname="h").html(mail_for(prepared))
    assert "ValueError: &lt;bad &amp; value&gt;" in html


def test_split_flattened_without_traceback_keeps_the_message() -> None:
    assert split_flattened("plain") == ("plain", None)


def test_digest_lists_every_group_with_counts_and_notes() -> None:
    r1, r2 = make_record("one"), make_record("two")
    r2.lineno = 43
    mail = Outgoing(
        "digest",
        (
            GroupReport(fingerprint(r1), 120, 1.0, 61.0, Alert.from_record(r1), 120),
            GroupReport(fingerprint(r2), 3, 2.0, 3.0, Alert.from_record(r2), 3),
        ),
        dropped=5,
        held=7,
        cap=20,
        outage_since=0.0,
        failed_attempts=4,
    )
    fmt = MailFormatter(hostname="h")
    text = fmt.text(mail)
    assert "123 log records in 2 groups" in text
    assert "#1  ERROR app.db: 120 records" in text and "#2  ERROR app.db: 3 records" in text
    assert "5 records could not be kept" in text
    assert "7 records arrived while the limit of 20 emails" in text
    assert "4 failed attempts" in text
    assert fmt.subject(mail).endswith("(7 suppressed by the hourly cap)")


def test_notice_subject_says_too_many_alerts() -> None:
    mail = mail_for(make_record("x"), kind="notice", cap=20, resume_at=0.0)
    subject = MailFormatter(hostname="h").subject(mail)
    assert "Too many alerts" in subject


def test_huge_digest_stays_small() -> None:
    records = []
    for i in range(MAX_DETAILED_GROUPS + 30):
        r = make_record("m" * 100_000)
        r.lineno = i
        records.append(r)
    text = MailFormatter(hostname="h").text(mail_for(*records, kind="digest"))
    assert "... and 30 more groups:" in text
    assert len(text) < MAX_DETAILED_GROUPS * 17_000


def test_clip_keeps_head_and_tail() -> None:
    clipped = clip("a" * 100 + "b" * 100, limit=40)
    assert clipped.startswith("a" * 10) and clipped.endswith("b" * 30)
    assert "160 characters cut" in clipped


def test_unformattable_message_gets_a_fallback_sample() -> None:
    record = make_record("needs %d", "not a number")
    with pytest.raises(TypeError):
        record.getMessage()
    alert = fallback_alert(record, TypeError("x"))
    assert alert.message.startswith("needs %d (the log message could not be formatted: TypeError)")


def test_configured_formatter_output_is_used_for_the_body() -> None:
    record = make_record("payload", exc=True)
    alert = Alert.from_record(record, logging.Formatter("[%(name)s] %(message)s"))
    mail = Outgoing("alert", (GroupReport(fingerprint(record), 1, 0, 0, alert, 1),))
    text = MailFormatter(hostname="h").text(mail)
    assert "[app.db] payload" in text
    assert text.count("Traceback (most recent call last):") == 1
