"""Webhook posts -> activity events, and the group-commit writer: pure Python, no Airflow, no network."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import Any

import pytest

from airflow_provider_smtp2go.webhooks.events import WebhookPayloadError, parse_body, parse_events
from airflow_provider_smtp2go.webhooks.writer import EventWriter

BASE = "email_id=1vomg2-abc&time=2026-11-26T10%3A00%3A00Z&rcpt=jo%40example.com"
FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("posted", "expected"),
    [
        ("event=open", "opened"),
        ("event=opened", "opened"),
        ("event=click", "clicked"),
        ("event=spam_complaint", "spam"),
        ("event=unsubscribe", "unsubscribed"),
        ("event=resubscribe", "resubscribed"),
        ("event=reject", "rejected"),
        ("event=delivered", "delivered"),
        ("event=bounce&bounce=hard", "hard-bounced"),
        ("event=bounce&bounce=soft", "soft-bounced"),
        ("event=bounce", "soft-bounced"),  # no class: never claim a hard bounce
        ("event=BOUNCE&bounce=HARD", "hard-bounced"),
    ],
)
def test_webhook_names_become_activity_names(posted: str, expected: str) -> None:
    [event] = parse_events(FORM, f"{posted}&{BASE}".encode())
    assert event.event == expected


def test_unknown_and_sms_events_yield_nothing_but_malformed_posts_raise() -> None:
    assert parse_events(FORM, f"event=sms_delivered&{BASE}".encode()) == []
    for body in (b"email_id=x", b"event=open", b"\xff\xfe", b"a&b&c"):
        with pytest.raises(WebhookPayloadError):
            parse_events(FORM, body)
    with pytest.raises(WebhookPayloadError):
        parse_events("application/json", b"[1, 2]")
    with pytest.raises(WebhookPayloadError):
        parse_events(FORM, b"event=open&email_id=x&time=yesterday")


def test_repeated_form_keys_and_json_lists_name_every_recipient() -> None:
    form = parse_events(
        FORM, b"event=processed&email_id=e1&time=2026-11-26T10:00:00Z&recipients=a%40x.io&recipients=b%40x.io"
    )
    body = (
        b'{"event": "processed", "email_id": "e1", "time": "2026-11-26T10:00:00Z", "recipients": ["a@x.io", "b@x.io"]}'
    )
    assert [e.recipient for e in form] == ["a@x.io", "b@x.io"]
    assert form == parse_events("application/json", body)
    assert form[0].raw["recipients"] == ["a@x.io", "b@x.io"]


def test_multipart_posts_are_read_too() -> None:
    boundary = "XyZ"
    parts = [("event", "click"), ("email_id", "e1"), ("time", "2026-11-26T10:00:00Z"), ("rcpt", "jo@x.io")]
    parts += [("url", "https://example.com/a"), ("X-Campaign", "autumn")]
    body = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in parts)
    body += f"--{boundary}--\r\n"
    [event] = parse_events(f"multipart/form-data; boundary={boundary}", body.encode())
    assert event.event == "clicked" and event.raw["metadata"] == {"url": "https://example.com/a"}
    assert event.raw["custom_headers"] == {"X-Campaign": "autumn"}


def test_echoed_headers_land_in_custom_headers_but_subject_and_message_id_do_not() -> None:
    body = f"event=delivered&{BASE}&Subject=Hi&subject=Hi&Message-Id=%3Cm%40x%3E&message-id=%3Cm%40x%3E&X-Job=7"
    [event] = parse_events(FORM, body.encode())
    assert event.raw["custom_headers"] == {"X-Job": "7"}
    assert event.subject == "Hi"


def test_a_form_keeps_blank_values_as_multimap() -> None:
    assert parse_body(FORM, b"a=1&a=&b=2") == {"a": ["1", ""], "b": ["2"]}


# -- the group-commit writer --------------------------------------------------------------------


def test_concurrent_posts_share_transactions_and_each_gets_its_own_answer() -> None:
    gate = threading.Event()
    sizes: list[int] = []

    def record(posts: Any) -> list[Any]:
        gate.wait(5)  # the first transaction is "slow": the others queue behind it
        sizes.append(len(posts))
        return [f"{account}:{len(events)}" for account, events in posts]

    writer = EventWriter(record)
    futures = [writer.submit(f"a{i}", [i] * (i % 3 + 1)) for i in range(40)]
    time.sleep(0.05)
    gate.set()
    assert [f.result(timeout=5) for f in futures] == [f"a{i}:{i % 3 + 1}" for i in range(40)]
    assert sum(sizes) == 40 and len(sizes) < 40 and writer.batches == len(sizes)


def test_one_bad_post_does_not_fail_the_others_in_its_batch() -> None:
    gate = threading.Event()

    def record(posts: Any) -> list[Any]:
        gate.wait(5)
        if any(account == "bad" for account, _ in posts):
            raise RuntimeError("database is locked")
        return ["ok" for _ in posts]

    writer = EventWriter(record)
    futures = [writer.submit(account, ["e"]) for account in ("first", "good", "bad", "good")]
    time.sleep(0.05)
    gate.set()
    assert futures[0].result(timeout=5) == "ok"
    assert futures[1].result(timeout=5) == futures[3].result(timeout=5) == "ok"
    with pytest.raises(RuntimeError):
        futures[2].result(timeout=5)


def test_a_post_whose_caller_gave_up_is_not_recorded() -> None:
    gate = threading.Event()
    recorded: list[str] = []

    def record(posts: Any) -> list[Any]:
        gate.wait(5)
        recorded.extend(account for account, _ in posts)
        return [None for _ in posts]

    writer = EventWriter(record)
    first = writer.submit("first", ["e"])
    time.sleep(0.05)
    abandoned: Future[Any] = writer.submit("abandoned", ["e"])
    assert abandoned.cancel()
    kept = writer.submit("kept", ["e"])
    gate.set()
    first.result(timeout=5)
    kept.result(timeout=5)
    assert recorded == ["first", "kept"]
