"""The sandbox's /email/send and /email/mime over real HTTP: auth, validation, behaviours."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime, timezone
from email.message import EmailMessage
from typing import Any

import pytest
import requests

from airflow_provider_smtp2go.sandbox import BEHAVIOURS, SandboxClock, Smtp2goSandbox

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def sb() -> Iterator[Smtp2goSandbox]:
    with Smtp2goSandbox(clock=SandboxClock(start=T0, frozen=True)) as sandbox:
        yield sandbox


def send(sb: Smtp2goSandbox, path: str = "email/send", key: str | None = None, **body: Any) -> requests.Response:
    headers = {"X-Smtp2go-Api-Key": sb.api_key if key is None else key}
    return requests.post(f"{sb.base_url}/{path}", json=body, headers=headers, timeout=5)


def good(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sender": "Ops <ops@example.com>",
        "to": ["Alice <alice@example.com>"],
        "subject": "Hello",
        "text_body": "Hi there",
    }
    body.update(over)
    return body


def event_names(sb: Smtp2goSandbox, email_id: str, recipient: str | None = None) -> list[str]:
    return [e["event"] for e in sb.events(email_id) if recipient is None or e["recipient"] == recipient]


# -- success and auth --------------------------------------------------------------------------------
def test_send_succeeds_with_envelope_and_records_the_parsed_message(sb: Smtp2goSandbox) -> None:
    resp = send(sb, **good(cc=["bob@example.com"], html_body="<p>Hi</p>"))
    assert resp.status_code == 200
    body = resp.json()
    assert len(body["request_id"]) == 36
    data = body["data"]
    assert (data["succeeded"], data["failed"], data["failures"]) == (1, 0, [])
    assert len(data["email_id"].split("-")) == 3
    (msg,) = sb.messages()
    assert msg.email_id == data["email_id"]
    assert msg.sender == "Ops <ops@example.com>"
    assert msg.recipients == ["alice@example.com", "bob@example.com"]
    assert (msg.subject, msg.text_body, msg.html_body) == ("Hello", "Hi there", "<p>Hi</p>")
    assert msg.endpoint == "email/send"
    assert msg.received_at == T0


def test_api_key_in_body_is_accepted(sb: Smtp2goSandbox) -> None:
    resp = requests.post(f"{sb.base_url}/email/send", json=good(api_key=sb.api_key), timeout=5)
    assert resp.status_code == 200
    assert sb.request_count("email/send", api_key=sb.api_key) == 1


@pytest.mark.parametrize("key", ["", "not-a-key"])
def test_missing_or_unknown_key_is_401_and_never_echoed(sb: Smtp2goSandbox, key: str) -> None:
    resp = send(sb, key=key, **good())
    assert resp.status_code == 401
    data = resp.json()["data"]
    assert data["error_code"] == "E_ApiResponseCodes.API_KEY_INVALID"
    assert sb.api_key not in resp.text
    assert "not-a-key" not in resp.text
    assert sb.messages() == []


def test_key_without_permission_gets_400_but_may_read_its_permissions(sb: Smtp2goSandbox) -> None:
    limited = "limited-" + sb.api_key[4:]
    sb.add_api_key(limited, permissions=["/activity/search"])
    resp = send(sb, key=limited, **good())
    assert resp.status_code == 400  # the spec's documented answer; the code says why
    assert resp.json()["data"]["error_code"] == "E_ApiResponseCodes.ENDPOINT_PERMISSION_DENIED"
    perms = send(sb, "api_keys/permissions", key=limited)
    assert perms.status_code == 200
    assert perms.json()["data"] == ["/activity/search"]
    full = send(sb, "api_keys/permissions").json()["data"]
    assert "/email/send" in full
    assert "/activity/search" in full


def test_unknown_path_is_404_json(sb: Smtp2goSandbox) -> None:
    resp = send(sb, "sms/send", destination=["+64210000000"])
    assert resp.status_code == 404
    assert "error_code" in resp.json()["data"]


# -- validation -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("override", "fieldname"),
    [
        ({"sender": None}, "sender"),
        ({"sender": "not an address"}, "sender"),
        ({"to": []}, "to"),
        ({"to": ["alice@"]}, "to"),
        ({"to": "alice@example.com"}, "to"),
        ({"cc": ["a@example.com, b@example.com"]}, "cc"),
        ({"to": [f"u{i}@example.com" for i in range(101)]}, "to"),
        ({"bcc": [f"u{i}@example.com" for i in range(101)]}, "bcc"),
        ({"text_body": None}, "html_body"),
        ({"custom_headers": [{"header": "Content-Type", "value": "text/plain"}]}, "custom_headers"),
        ({"custom_headers": [{"header": "MIME-Version", "value": "1.0"}]}, "custom_headers"),
        ({"custom_headers": [{"header": "X-Evil", "value": "a\r\nBcc: x@example.com"}]}, "custom_headers"),
        # Recipients set as headers would get round address checks and the 100 cap.
        ({"custom_headers": [{"header": "To", "value": "x@example.com"}]}, "custom_headers"),
        ({"custom_headers": [{"header": "cc", "value": "x@example.com"}]}, "custom_headers"),
        ({"custom_headers": [{"header": "BCC", "value": "x@example.com"}]}, "custom_headers"),
        ({"template_id": "missing-template"}, "template_id"),
        ({"attachments": [{"filename": "a.txt", "fileblob": "%%%not base64"}]}, "attachments"),
        ({"schedule": "2020-01-01 00:00:00 +0000"}, "schedule"),
        ({"schedule": "2026-12-25 00:00:00 +0000"}, "schedule"),
        ({"schedule": "tomorrow-ish"}, "schedule"),
    ],
)
def test_invalid_payload_is_400_naming_the_field(sb: Smtp2goSandbox, override: dict[str, Any], fieldname: str) -> None:
    body = good(**override)
    body = {k: v for k, v in body.items() if v is not None}
    resp = send(sb, **body)
    assert resp.status_code == 400
    data = resp.json()["data"]
    assert data["error_code"] == "E_ApiResponseCodes.NON_VALIDATING_IN_PAYLOAD"
    assert data["field_validation_errors"]["fieldname"] == fieldname
    assert data["field_validation_errors"]["message"]
    assert sb.messages() == []


@pytest.mark.parametrize("name", ["To", "Cc", "Bcc"])
def test_the_client_refuses_a_recipient_header_before_the_network(sb: Smtp2goSandbox, name: str) -> None:
    from airflow_provider_smtp2go.client import Email, Smtp2goClient, Smtp2goValidationError

    with Smtp2goClient(sb.api_key, base_url=sb.base_url) as client, pytest.raises(Smtp2goValidationError) as caught:
        client.send(Email(sender="ops@example.com", to="alice@example.com", subject="Hi", text_body="Hi",
                          custom_headers={name: "x@example.com"}))  # fmt: skip
    assert caught.value.field == "custom_headers"
    assert sb.state.request_count("email/send") == 0


def test_100_recipients_per_field_is_fine(sb: Smtp2goSandbox) -> None:
    resp = send(sb, **good(to=[f"u{i}@example.com" for i in range(100)]))
    assert resp.status_code == 200
    assert len(sb.messages()[0].recipients) == 100


def test_invalid_json_and_wrong_content_type_are_400(sb: Smtp2goSandbox) -> None:
    headers = {"X-Smtp2go-Api-Key": sb.api_key, "Content-Type": "application/json"}
    resp = requests.post(f"{sb.base_url}/email/send", data=b"{not json", headers=headers, timeout=5)
    assert resp.status_code == 400
    assert resp.json()["data"]["error_code"] == "E_ApiResponseCodes.NON_VALIDATING_IN_PAYLOAD"
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    resp = requests.post(f"{sb.base_url}/email/send", data=b"sender=a", headers=headers, timeout=5)
    assert resp.status_code == 400
    assert "Content-Type" in resp.json()["data"]["error"]


def test_total_size_over_the_limit_is_400() -> None:
    with Smtp2goSandbox(max_size_bytes=1000) as small:
        blob = base64.b64encode(b"x" * 2000).decode()
        resp = send(small, **good(attachments=[{"filename": "big.bin", "fileblob": blob}]))
        assert resp.status_code == 400
        assert resp.json()["data"]["field_validation_errors"]["fieldname"] == "attachments"
        ok = send(small, **good(attachments=[{"filename": "s.txt", "fileblob": "aGk=", "mimetype": "text/plain"}]))
        assert ok.status_code == 200
        (att,) = small.messages()[0].attachments
        assert (att.filename, att.mimetype, att.size) == ("s.txt", "text/plain", 2)


# -- suppression, templates, schedule, fastaccept -------------------------------------------------------
def test_all_recipients_suppressed_is_200_with_failures(sb: Smtp2goSandbox) -> None:
    sb.suppress("alice@example.com")
    resp = send(sb, **good())
    assert resp.status_code == 200
    data = resp.json()["data"]
    assert (data["succeeded"], data["failed"]) == (0, 1)
    assert "alice@example.com" in data["failures"][0]
    assert event_names(sb, data["email_id"]) == ["rejected"]


def test_partly_suppressed_send_succeeds_and_rejects_only_the_suppressed(sb: Smtp2goSandbox) -> None:
    sb.suppress("blocked.example")  # a whole domain
    resp = send(sb, **good(to=["alice@example.com", "bob@blocked.example"]))
    data = resp.json()["data"]
    assert (data["succeeded"], data["failed"], data["failures"]) == (1, 0, [])
    assert event_names(sb, data["email_id"], "bob@blocked.example") == ["rejected"]
    assert event_names(sb, data["email_id"], "alice@example.com") == ["processed", "delivered"]


def test_suppression_api_add_view_remove(sb: Smtp2goSandbox) -> None:
    added = send(sb, "suppression/add", email_address="gone@example.com", block_description="left")
    assert added.json()["data"]["added"] is True
    view = send(sb, "suppression/view").json()["data"]
    assert view["total_results"] == 1
    assert view["continue_token"] is None
    assert view["results"][0]["email_address"] == "gone@example.com"
    assert view["results"][0]["reason"] == "manual"
    assert send(sb, **good(to=["gone@example.com"])).json()["data"]["failed"] == 1
    removed = send(sb, "suppression/remove", email_address="gone@example.com", reasons=["manual"])
    assert removed.json()["data"]["suppressions"] == [
        {"email_address": "gone@example.com", "reason": "manual", "removed": True}
    ]
    assert send(sb, **good(to=["gone@example.com"])).json()["data"]["succeeded"] == 1
    assert send(sb, "suppression/remove", email_address="gone@example.com").status_code == 400


def test_template_send_renders_subject_and_bodies(sb: Smtp2goSandbox) -> None:
    sb.add_template("welcome-1", "Welcome {{ name }}", "<h1>Hi {{name}}</h1>", "Hi {{ name }}, {{missing}}!")
    resp = send(
        sb,
        sender="ops@example.com",
        to=["alice@example.com"],
        template_id="welcome-1",
        template_data={"name": "Alice"},
        subject="ignored",
    )
    assert resp.status_code == 200
    msg = sb.messages()[0]
    assert (msg.subject, msg.html_body, msg.text_body) == ("Welcome Alice", "<h1>Hi Alice</h1>", "Hi Alice, !")
    assert msg.template_id == "welcome-1"


def test_templates_over_the_api(sb: Smtp2goSandbox) -> None:
    body = {
        "template_name": "Receipt",
        "id": "receipt-01",
        "subject": "Order {{ n }}",
        "html_body": "<b>{{ n }}</b>",
        "text_body": "{{ n }}",
    }
    assert send(sb, "template/add", **body).status_code == 200
    assert send(sb, "template/add", **{**body, "id": "abc"}).status_code == 400
    assert send(sb, "template/view", id="receipt-01").json()["data"]["subject"] == "Order {{ n }}"
    found = send(sb, "template/search", search_terms=["receipt"]).json()["data"]
    assert [t["id"] for t in found["templates"]] == ["receipt-01"]
    send(sb, **good(template_id="receipt-01", template_data={"n": 42}))
    assert sb.messages()[0].subject == "Order 42"


def test_schedule_returns_schedule_id_and_dates_events_at_the_schedule(sb: Smtp2goSandbox) -> None:
    resp = send(sb, **good(schedule="2026-11-26 13:15:00 +0100"))
    data = resp.json()["data"]
    assert len(data["schedule_id"]) == 36
    assert {e["date"] for e in sb.events(data["email_id"])} == {"2026-11-26T12:15:00Z"}
    rfc3339 = send(sb, **good(schedule="2026-11-27T09:00:00Z")).json()["data"]
    assert {e["date"] for e in sb.events(rfc3339["email_id"])} == {"2026-11-27T09:00:00Z"}


def test_fastaccept_answers_with_only_the_email_id(sb: Smtp2goSandbox) -> None:
    data = send(sb, **good(fastaccept=True)).json()["data"]
    assert set(data) == {"email_id"}
    assert sb.messages()[0].email_id == data["email_id"]


# -- MIME --------------------------------------------------------------------------------------------
def test_mime_send_is_parsed(sb: Smtp2goSandbox) -> None:
    mime = EmailMessage()
    mime["From"] = "Reports <reports@example.com>"
    mime["To"] = "Alice <alice@example.com>, bob+open@example.com"
    mime["Cc"] = "carol@example.com"
    mime["Subject"] = "Nightly report"
    mime["X-Job-Id"] = "job-7"
    mime.set_content("plain text body")
    mime.add_alternative("<p>html body</p>", subtype="html")
    mime.add_attachment(b"a,b\n1,2\n", maintype="text", subtype="csv", filename="report.csv")
    raw = base64.b64encode(mime.as_bytes()).decode()
    resp = send(sb, "email/mime", mime_email=raw)
    assert resp.status_code == 200
    data = resp.json()["data"]
    assert data["succeeded"] == 1
    msg = sb.messages()[0]
    assert msg.endpoint == "email/mime"
    assert msg.sender_address == "reports@example.com"
    assert msg.to == ["Alice <alice@example.com>", "bob+open@example.com"]
    assert msg.cc == ["carol@example.com"]
    assert msg.subject == "Nightly report"
    assert msg.text_body.strip() == "plain text body"
    assert msg.html_body.strip() == "<p>html body</p>"
    assert [(a.filename, a.mimetype, a.size) for a in msg.attachments] == [("report.csv", "text/csv", 8)]
    assert msg.custom_headers["X-Job-Id"] == "job-7"
    assert event_names(sb, data["email_id"], "bob+open@example.com") == ["processed", "delivered", "opened"]


def test_mime_without_recipients_or_not_base64_is_400(sb: Smtp2goSandbox) -> None:
    no_rcpt = base64.b64encode(b"From: a@example.com\nSubject: x\n\nbody").decode()
    assert send(sb, "email/mime", mime_email=no_rcpt).status_code == 400
    bad = send(sb, "email/mime", mime_email="***")
    assert bad.json()["data"]["field_validation_errors"]["fieldname"] == "mime_email"


# -- recipient behaviours --------------------------------------------------------------------------------
BEHAVIOUR_EVENTS = {
    "alice@example.com": ["processed", "delivered"],
    "x+hard-bounce@example.com": ["processed", "hard-bounced"],
    "x+soft-bounce@example.com": ["processed", "soft-bounced"],
    "x+reject@example.com": ["processed", "rejected"],
    "x+open@example.com": ["processed", "delivered", "opened"],
    "x+click@example.com": ["processed", "delivered", "opened", "clicked"],
    "x+spam@example.com": ["processed", "delivered", "spam"],
    "x+unsubscribe@example.com": ["processed", "delivered", "unsubscribed"],
    "x+deliver-120s@example.com": ["processed", "delivered"],
    "x+open-30s@example.com": ["processed", "delivered", "opened"],
    "x+click-60s@example.com": ["processed", "delivered", "opened", "clicked"],
    "ops+team+OPEN@example.com": ["processed", "delivered", "opened"],
}


@pytest.mark.parametrize(("address", "expected"), BEHAVIOUR_EVENTS.items())
def test_each_recipient_behaviour(sb: Smtp2goSandbox, address: str, expected: list[str]) -> None:
    email_id = send(sb, **good(to=[address])).json()["data"]["email_id"]
    assert event_names(sb, email_id) == expected


def test_delayed_behaviours_are_dated_in_the_future(sb: Smtp2goSandbox) -> None:
    email_id = send(sb, **good(to=["x+click-60s@example.com", "y+deliver-120s@example.com"])).json()["data"]["email_id"]
    dates = {(e["recipient"], e["event"]): e["date"] for e in sb.events(email_id)}
    assert dates[("x+click-60s@example.com", "delivered")] == "2026-11-26T10:00:00Z"
    assert dates[("x+click-60s@example.com", "clicked")] == "2026-11-26T10:01:00Z"
    assert dates[("y+deliver-120s@example.com", "delivered")] == "2026-11-26T10:02:00Z"


def test_behaviour_table_documents_every_tag_tested() -> None:
    documented = {b.example for b in BEHAVIOURS}
    assert documented <= set(BEHAVIOUR_EVENTS)
