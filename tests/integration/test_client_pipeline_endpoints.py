"""Issue 13 endpoints over real HTTP to the sandbox: suppression filters and shapes, templates'
published shapes, scheduled sends, and the permission error's status."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import requests

from airflow_provider_smtp2go.client import (
    AsyncSmtp2goClient,
    Email,
    Smtp2goApiError,
    Smtp2goAuthError,
    Smtp2goClient,
    Smtp2goValidationError,
)
from airflow_provider_smtp2go.sandbox import Smtp2goSandbox


def post(sb: Smtp2goSandbox, path: str, key: str | None = None, **body: object) -> requests.Response:
    return requests.post(
        f"{sb.base_url}/{path}", json=body, headers={"X-Smtp2go-Api-Key": key or sb.api_key}, timeout=10
    )


# Permission errors: 400 by default (the spec's only documented error), 403 still understood.


def test_a_key_without_permission_gets_400_permission_denied(smtp2go_sandbox: Smtp2goSandbox) -> None:
    limited = "limited-" + smtp2go_sandbox.api_key[4:]
    smtp2go_sandbox.add_api_key(limited, permissions=["/activity/search"])
    resp = post(smtp2go_sandbox, "email/send", key=limited, sender="a@example.com", to=["b@example.com"])
    assert resp.status_code == 400
    assert resp.json()["data"]["error_code"] == "E_ApiResponseCodes.ENDPOINT_PERMISSION_DENIED"


@pytest.mark.parametrize("status", [400, 403])
def test_the_client_reads_permission_denied_as_an_auth_error_at_either_status(
    smtp2go_sandbox: Smtp2goSandbox, status: int
) -> None:
    smtp2go_sandbox.api.permission_denied_status = status
    limited = "limited-" + smtp2go_sandbox.api_key[4:]
    smtp2go_sandbox.add_api_key(limited, permissions=["/email/send"])
    with Smtp2goClient(limited, base_url=smtp2go_sandbox.base_url) as c, pytest.raises(Smtp2goAuthError) as caught:
        c.view_suppressions()
    assert caught.value.status == status
    assert "lacks permission" in str(caught.value)
    assert smtp2go_sandbox.state.request_count("suppression/view") == 1  # never retried


# Suppressions: types and free-text reasons are different filters; remove answers per type.


def test_view_suppressions_filters_by_type_and_searches_reason_text(
    smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient
) -> None:
    client.add_suppression("manual@example.com", block_description="asked by phone")
    smtp2go_sandbox.suppress("bounced@example.com", reason="bounce")
    by_type = client.view_suppressions(suppression_types=["bounce"])["results"]
    assert [r["email_address"] for r in by_type] == ["bounced@example.com"]
    by_text = client.view_suppressions(reasons=["phone"])["results"]
    assert [r["email_address"] for r in by_text] == ["manual@example.com"]
    assert client.view_suppressions(reasons=["bounce"])["results"] == []  # a type is not reason text
    with pytest.raises(Smtp2goValidationError, match="suppression_types"):
        client.view_suppressions(suppression_types=["bounced"])


def test_remove_suppression_answers_one_row_per_type(client: Smtp2goClient) -> None:
    client.add_suppression("gone@example.com")
    data = client.remove_suppression("gone@example.com", reasons=["manual", "bounce"])
    assert data == {
        "suppressions": [
            {"email_address": "gone@example.com", "reason": "manual", "removed": True},
            {"email_address": "gone@example.com", "reason": "bounce", "removed": False},
        ]
    }


# Templates: view and search answer ``name`` and ``last_updated``; search items carry no bodies.


def test_template_view_and_search_use_the_published_shapes(
    smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient
) -> None:
    smtp2go_sandbox.add_template("receipt-01", "Order {{ n }}", "<b>{{ n }}</b>", "{{ n }}", name="Receipt")
    view = client.view_template("receipt-01")
    assert view["name"] == "Receipt" and "template_name" not in view
    assert view["last_updated"] and view["html_body"] == "<b>{{ n }}</b>"
    [item] = client.search_templates(search_terms=["receipt"])["templates"]
    assert set(item) == {"name", "id", "subject", "tags", "last_updated"}
    assert item["name"] == "Receipt"


# Scheduled sends: list and cancel what a DAG scheduled.


def test_scheduled_sends_can_be_listed_and_cancelled(smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient) -> None:
    when = smtp2go_sandbox.clock.now() + timedelta(hours=2)
    first = client.send(
        Email(sender="ops@example.com", to=["a@example.com"], subject="Launch", text_body="x", schedule=when)
    )
    second = client.send(
        Email(sender="ops@example.com", to=["b@example.com"], subject="Later", text_body="x", schedule=when)
    )
    assert first.schedule_id and second.schedule_id
    listed = client.search_scheduled()
    assert {s["schedule_id"] for s in listed} == {first.schedule_id, second.schedule_id}
    assert set(listed[0]) == {"schedule_id", "schedule", "sender", "subject", "recipients", "client_ip"}
    [launch] = client.search_scheduled(search_subject="launch")
    assert launch["schedule_id"] == first.schedule_id and launch["recipients"] == "a@example.com"
    assert client.remove_scheduled(first.schedule_id) == {}
    assert [s["schedule_id"] for s in client.search_scheduled()] == [second.schedule_id]
    smtp2go_sandbox.clock.advance(3 * 3600)
    assert smtp2go_sandbox.events(first.email_id) == []  # cancelled: nothing happened
    assert smtp2go_sandbox.events(second.email_id)
    assert client.search_scheduled() == []  # sent: no longer pending


def test_removing_an_unknown_schedule_is_refused(client: Smtp2goClient) -> None:
    with pytest.raises(Smtp2goApiError, match="schedule_id"):
        client.remove_scheduled("no-such-schedule")
    with pytest.raises(Smtp2goValidationError):
        client.remove_scheduled("  ")


# Verified senders.


def test_sender_domains_and_single_senders(smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient) -> None:
    smtp2go_sandbox.add_sender_domain("pending.example", verified=False)
    smtp2go_sandbox.add_single_sender("Solo@Elsewhere.example")
    assert client.view_sender_domains() == [
        {"domain": "example.com", "verified": True, "dkim_verified": True, "rpath_verified": True},
        {"domain": "pending.example", "verified": False, "dkim_verified": False, "rpath_verified": False},
    ]
    assert [d["domain"] for d in client.view_sender_domains(domain="pending.example")] == ["pending.example"]
    assert client.view_single_senders() == [{"email_address": "solo@elsewhere.example", "verified": True}]
    raw = post(smtp2go_sandbox, "domain/view").json()["data"]["domains"][0]
    assert set(raw) == {"domain", "trackers", "subaccount_access"}
    assert {"fulldomain", "dkim_verified", "rpath_verified", "dkim_status"} <= set(raw["domain"])


def test_the_async_client_reads_the_new_endpoints(smtp2go_sandbox: Smtp2goSandbox) -> None:
    async def scenario() -> None:
        async with AsyncSmtp2goClient(smtp2go_sandbox.api_key, base_url=smtp2go_sandbox.base_url) as c:
            assert [d["domain"] for d in await c.view_sender_domains()] == ["example.com"]
            assert await c.search_scheduled() == []
            assert (await c.view_suppressions(suppression_types=["spam"]))["results"] == []

    asyncio.run(scenario())


# Subaccounts: find one by name.


def test_a_subaccount_is_found_by_name(smtp2go_sandbox: Smtp2goSandbox, client: Smtp2goClient) -> None:
    from airflow_provider_smtp2go.client.endpoints import find_subaccount

    marketing = smtp2go_sandbox.add_subaccount("Marketing", "marketing@example.com")
    smtp2go_sandbox.add_subaccount("Marketing EU", "eu@example.com")
    page = client.search_subaccounts(search_terms=["Marketing"])
    assert page["total_count"] == 1 and set(page) == {"continue_token", "subaccounts", "total_count"}
    assert find_subaccount(page, "marketing") == marketing
    both = client.search_subaccounts(search_terms=["marketing"], fuzzy_search=True)
    assert [s["name"] for s in both["subaccounts"]] == ["Marketing", "Marketing EU"]
    assert find_subaccount(both, marketing["id"]) == marketing
    assert find_subaccount(both, "Sales") is None
