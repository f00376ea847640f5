"""The sandbox's /activity/search and /stats/* over real HTTP, driven by the sandbox clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
import requests

from airflow_provider_smtp2go.sandbox import SandboxClock, Smtp2goSandbox

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def sb() -> Iterator[Smtp2goSandbox]:
    with Smtp2goSandbox(clock=SandboxClock(start=T0, frozen=True)) as sandbox:
        yield sandbox


def call(sb: Smtp2goSandbox, path: str, **body: Any) -> requests.Response:
    return requests.post(f"{sb.base_url}/{path}", json=body, headers={"X-Smtp2go-Api-Key": sb.api_key}, timeout=5)


def send(sb: Smtp2goSandbox, to: list[str], subject: str = "Hello", **extra: Any) -> str:
    body = {"sender": "Ops <ops@example.com>", "to": to, "subject": subject, "text_body": "x", **extra}
    resp = call(sb, "email/send", **body)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["data"]["email_id"])


def search(sb: Smtp2goSandbox, **body: Any) -> dict[str, Any]:
    resp = call(sb, "activity/search", **body)
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()["data"]
    return data


def kinds(data: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["recipient"], e["event"]) for e in data["events"]]


def test_event_objects_have_the_documented_shape(sb: Smtp2goSandbox) -> None:
    email_id = send(
        sb,
        ["Alice <alice@example.com>"],
        bcc=["audit@example.com"],
        custom_headers=[{"header": "X-MyCustomID", "value": "01HMS"}, {"header": "X-Other", "value": "o"}],
    )
    data = search(sb, event_types=["delivered"], custom_headers=["X-MyCustomID"], include_headers=True)
    assert data["total_events"] == 2  # alice and the bcc copy
    assert data["continue_token"] is None
    event = next(e for e in data["events"] if e["recipient"] == "alice@example.com")
    assert event["email_id"] == email_id
    assert event["date"] == "2026-11-26T10:00:00Z"
    assert event["event"] == "delivered"
    assert (event["from"], event["sender"], event["sender_full"]) == (
        "ops@example.com",
        "ops@example.com",
        "Ops <ops@example.com>",
    )
    assert event["to"] == "Alice <alice@example.com>"
    assert event["bcc"] == "audit@example.com"
    assert event["subject"] == "Hello"
    assert event["username"].startswith("api-")
    assert len(event["username"]) == 16
    assert event["username"][4:] == event["username"][4:].upper()
    assert event["subaccount_name"] == "Master account"
    assert event["smtp_response"].startswith("250")
    assert event["host"]
    assert event["custom_headers"] == {"X-MyCustomID": "01HMS"}
    assert "Subject: Hello" in event["headers"]


def test_clock_advance_makes_a_delayed_open_appear(sb: Smtp2goSandbox) -> None:
    send(sb, ["x+open-30s@example.com"])
    assert search(sb, event_types=["opened"])["events"] == []
    sb.clock.advance(29)
    assert search(sb, event_types=["opened"])["events"] == []
    sb.clock.advance(1)
    (opened,) = search(sb, event_types=["opened"])["events"]
    assert opened["date"] == "2026-11-26T10:00:30Z"


def test_date_range_is_start_inclusive_end_exclusive_in_any_documented_format(sb: Smtp2goSandbox) -> None:
    send(sb, ["a@example.com"], subject="first")
    sb.clock.advance(3600)
    send(sb, ["b@example.com"], subject="second")  # 11:00:00
    sb.clock.advance(60)
    processed = {"event_types": ["processed"]}
    assert kinds(search(sb, start_date="2026-11-26 11:00:00", **processed)) == [("b@example.com", "processed")]
    assert kinds(search(sb, start_date="2026-11-26", end_date="2026-11-26T11:00:00", **processed)) == [
        ("a@example.com", "processed")
    ]
    # 12:00+01:00 is 11:00Z: excluded as an end, included as a start.
    assert kinds(search(sb, start_date="2026-11-26", end_date="2026-11-26T12:00:00+01:00", **processed)) == [
        ("a@example.com", "processed")
    ]
    assert len(search(sb, start_date="2026-11-26T11:00:00Z", **processed)["events"]) == 1
    assert len(search(sb, start_date="Thu, 26 Nov 2026 09:00:00 GMT", **processed)["events"]) == 2
    bad = call(sb, "activity/search", start_date="yesterday")
    assert bad.status_code == 400
    assert bad.json()["data"]["field_validation_errors"]["fieldname"] == "start_date"


def test_default_start_is_midnight_today(sb: Smtp2goSandbox) -> None:
    sb.clock.set(datetime(2026, 11, 25, 23, 0, tzinfo=timezone.utc))
    send(sb, ["yesterday@example.com"])
    sb.clock.set(datetime(2026, 11, 26, 1, 0, tzinfo=timezone.utc))
    send(sb, ["today@example.com"])
    assert {r for r, _ in kinds(search(sb))} == {"today@example.com"}


def test_text_filters(sb: Smtp2goSandbox) -> None:
    first = send(sb, ["alice@example.com"], subject="Invoice 1")
    send(sb, ["bob@example.com"], subject="Welcome")
    send(sb, ["carol@example.com"], subject="Reminder", bcc=["audit@corp.example"])
    only = {"event_types": ["processed"]}
    assert {r for r, _ in kinds(search(sb, search="invoice | WELCOME", **only))} == {
        "alice@example.com",
        "bob@example.com",
    }
    assert {r for r, _ in kinds(search(sb, search="corp.example", **only))} == {
        "carol@example.com",
        "audit@corp.example",
    }
    assert kinds(search(sb, search_email_id=first, **only)) == [("alice@example.com", "processed")]
    assert kinds(search(sb, search_subject="welc", **only)) == [("bob@example.com", "processed")]
    assert kinds(search(sb, search_recipient="carol", **only)) == [("carol@example.com", "processed")]
    assert len(search(sb, search_sender="ops@example", **only)["events"]) == 4
    assert search(sb, search_sender="nobody", **only)["events"] == []
    username = search(sb, **only)["events"][0]["username"]
    assert len(search(sb, search_usernames=[username], **only)["events"]) == 4
    assert search(sb, search_usernames=["api-000000000000"], **only)["events"] == []
    assert search(sb, subaccounts=["GnlKn5"])["events"] == []


def test_event_types_must_be_the_documented_names(sb: Smtp2goSandbox) -> None:
    send(sb, ["x+hard-bounce@example.com", "y+click@example.com"])
    data = search(sb, event_types=["hard-bounced", "clicked"])
    assert sorted(e for _, e in kinds(data)) == ["clicked", "hard-bounced"]
    for wrong in (["bounced"], ["sent"], ["open"]):
        resp = call(sb, "activity/search", event_types=wrong)
        assert resp.status_code == 400
        assert resp.json()["data"]["field_validation_errors"]["fieldname"] == "event_types"


def test_only_latest_gives_one_event_per_email(sb: Smtp2goSandbox) -> None:
    first = send(sb, ["x+click@example.com"])
    sb.clock.advance(10)
    second = send(sb, ["y@example.com"])
    latest = search(sb, only_latest=True)["events"]
    assert [(e["email_id"], e["event"]) for e in latest] == [(second, "delivered"), (first, "clicked")]
    by_sent = search(sb, only_latest_by_sent=True, only_latest=True)["events"]
    assert [e["email_id"] for e in by_sent] == [second, first]


def test_paging_with_continue_token_returns_every_event_once(sb: Smtp2goSandbox) -> None:
    for i in range(130):
        send(sb, [f"user{i}@example.com"])
    seen: list[tuple[str, str]] = []
    data = search(sb, limit=100)
    assert data["total_events"] == 260
    assert len(data["events"]) == 100
    pages = 1
    while data["continue_token"]:
        send(sb, ["late@example.com"])  # arrives while paging: must not shift the pages
        seen += [(e["email_id"], e["event"]) for e in data["events"]]
        data = search(sb, limit=100, continue_token=data["continue_token"])
        pages += 1
    seen += [(e["email_id"], e["event"]) for e in data["events"]]
    assert pages == 3
    assert len(seen) == 260
    assert len(set(seen)) == 260


def test_limit_bounds(sb: Smtp2goSandbox) -> None:
    assert call(sb, "activity/search", limit=1000).status_code == 200
    for bad in (1001, 0, "10"):
        resp = call(sb, "activity/search", limit=bad)
        assert resp.status_code == 400
        assert resp.json()["data"]["field_validation_errors"]["fieldname"] == "limit"
    assert call(sb, "activity/search", continue_token="garbage!").status_code == 400


def test_enforced_activity_limit_is_per_key_and_rolls_with_the_clock() -> None:
    clock = SandboxClock(start=T0, frozen=True)
    with Smtp2goSandbox(clock=clock, enforce_activity_limit=True, activity_limit_per_minute=3) as sb:
        codes = [call(sb, "activity/search").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        body = call(sb, "activity/search").json()["data"]
        assert body["error_code"] == "E_ApiResponseCodes.REQ_LIMIT_EXCEEDED"
        assert "rate limited" in body["error"]
        other = "other-" + sb.api_key[4:]
        sb.add_api_key(other)
        resp = requests.post(f"{sb.base_url}/activity/search", json={}, headers={"X-Smtp2go-Api-Key": other}, timeout=5)
        assert resp.status_code == 200
        assert call(sb, "email/send", sender="a@example.com", to=["b@example.com"], text_body="x").status_code == 200
        clock.advance(60)
        assert call(sb, "activity/search").status_code == 200


def test_activity_is_unlimited_by_default(sb: Smtp2goSandbox) -> None:
    assert all(call(sb, "activity/search").status_code == 200 for _ in range(70))


def test_stats_shapes_and_numbers(sb: Smtp2goSandbox) -> None:
    send(
        sb,
        [
            "a@example.com",
            "b+hard-bounce@example.com",
            "c+soft-bounce@example.com",
            "d+spam@example.com",
            "e+unsubscribe@example.com",
            "f+click@example.com",
            "g+reject@example.com",
            "h@example.com",
        ],
    )
    bounces = call(sb, "stats/email_bounces").json()["data"]
    assert bounces == {"emails": 8, "rejects": 1, "softbounces": 1, "hardbounces": 1, "bounce_percent": "25.00"}
    spam = call(sb, "stats/email_spam").json()["data"]
    assert spam == {"emails": 8, "rejects": 1, "spams": 1, "spam_percent": "12.50"}
    unsubs = call(sb, "stats/email_unsubs").json()["data"]
    assert unsubs == {"emails": 8, "rejects": 1, "unsubscribes": 1, "unsubscribe_percent": "12.50"}
    summary = call(sb, "stats/email_summary").json()["data"]
    assert summary["email_count"] == 8
    assert (summary["opens"], summary["clicks"]) == (1, 1)
    assert summary["bounce_percent"] == "25.00"
    assert summary["cycle_start"] == "2026-11-01 00:00:00+00:00"
    assert summary["cycle_end"] == "2026-12-01 00:00:00+00:00"
    cycle = call(sb, "stats/email_cycle").json()["data"]
    assert (cycle["cycle_used"], cycle["cycle_remaining"], cycle["cycle_max"]) == (8, 9992, 10000)
    history = call(sb, "stats/email_history").json()["data"]
    assert history["count"] == 1
    row = history["history"][0]
    assert row["email_address"] == "ops@example.com"
    assert (row["used"], row["bounces"], row["opens"], row["clicks"], row["spam"]) == (8, 2, 1, 1, 1)
    by_domain = call(sb, "stats/email_history", group_by="domain").json()["data"]["history"][0]
    assert by_domain["domain"] == "example.com"
    assert call(sb, "stats/email_history", group_by="planet").status_code == 400
    other_user = call(sb, "stats/email_bounces", username="api-000000000000").json()["data"]
    assert other_user["emails"] == 0
    assert other_user["bounce_percent"] == "0.00"
