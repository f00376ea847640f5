"""``Smtp2goHook.ensure_webhook`` and ``Smtp2goEnsureWebhookOperator`` over real HTTP to the sandbox.

Idempotent: absent -> created, same -> unchanged (no add/edit request), different -> updated,
and an add that got no usable answer is followed by a view, never by a blind second add.
The receiver's secret (connection ``smtp2go_webhook``) never shows in logs, XCom or the DB.
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goHook

URL = "https://airflow.example.com/smtp2go/webhooks/"
EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "example_smtp2go_webhooks.py"


@pytest.fixture
def webhook_secret(smtp2go_conn, monkeypatch: pytest.MonkeyPatch) -> str:
    """A distinctive bearer secret (built at runtime) in connection ``smtp2go_webhook``."""
    secret = "whk-" + secrets.token_hex(16).upper()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP2GO_WEBHOOK", json.dumps({"conn_type": "generic", "password": secret}))
    return secret


def registered(sandbox: Any) -> list[Any]:
    return sandbox.webhook_registry.all()


def counts(sandbox: Any) -> dict[str, int]:
    return {path: sandbox.request_count(f"webhook/{path}") for path in ("view", "add", "edit")}


def test_absent_webhook_is_created_with_the_connections_bearer_secret(smtp2go_conn, webhook_secret) -> None:
    with Smtp2goHook() as hook:
        result = hook.ensure_webhook(URL, ["bounce", "spam"])

    (webhook,) = registered(smtp2go_conn.sandbox)
    assert result == {"id": webhook.id, "action": "created", "url": URL}
    assert (webhook.url, sorted(webhook.events), webhook.output_format) == (URL, ["bounce", "spam"], "form")
    assert (webhook.auth_header_type, webhook.auth_header_value) == ("bearer", webhook_secret)
    assert counts(smtp2go_conn.sandbox) == {"view": 1, "add": 1, "edit": 0}


def test_same_webhook_is_unchanged_without_add_or_edit(smtp2go_conn, webhook_secret) -> None:
    with Smtp2goHook() as hook:
        first = hook.ensure_webhook(URL, ["bounce", "spam"])
        again = hook.ensure_webhook(URL, ["spam", "bounce"])  # order does not matter

    assert again == {"id": first["id"], "action": "unchanged", "url": URL}
    assert counts(smtp2go_conn.sandbox) == {"view": 2, "add": 1, "edit": 0}
    assert len(registered(smtp2go_conn.sandbox)) == 1


def test_different_events_or_secret_are_updated_in_place(smtp2go_conn, webhook_secret, monkeypatch) -> None:
    with Smtp2goHook() as hook:
        first = hook.ensure_webhook(URL, ["bounce"])
        changed = hook.ensure_webhook(URL, ["bounce", "unsubscribe"])
    (webhook,) = registered(smtp2go_conn.sandbox)
    assert changed == {"id": first["id"], "action": "updated", "url": URL}
    assert sorted(webhook.events) == ["bounce", "unsubscribe"]

    # Rotating the receiver's secret to basic auth (login + password) is a change too.
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP2GO_WEBHOOK", json.dumps({"conn_type": "generic", "login": "smtp2go", "password": "r0tated"})
    )
    with Smtp2goHook() as hook:
        rotated = hook.ensure_webhook(URL, ["bounce", "unsubscribe"])
    (webhook,) = registered(smtp2go_conn.sandbox)
    assert rotated["action"] == "updated"
    assert webhook.auth_header_type == "basic"
    assert base64.b64decode(webhook.auth_header_value) == b"smtp2go:r0tated"
    assert counts(smtp2go_conn.sandbox) == {"view": 3, "add": 1, "edit": 2}


def test_an_add_answered_500_is_followed_by_a_view_not_a_blind_second_add(smtp2go_conn, webhook_secret) -> None:
    # The 500 came before SMTP2GO stored anything: the view shows no webhook, so one more add.
    smtp2go_conn.sandbox.inject_fault("webhook/add", status=500, count=1)
    with Smtp2goHook() as hook:
        result = hook.ensure_webhook(URL, ["bounce"])

    (webhook,) = registered(smtp2go_conn.sandbox)
    assert result == {"id": webhook.id, "action": "created", "url": URL}
    assert counts(smtp2go_conn.sandbox) == {"view": 2, "add": 2, "edit": 0}


def test_an_add_stored_but_unanswered_is_found_by_the_view_and_not_repeated(smtp2go_conn, webhook_secret) -> None:
    # SMTP2GO stored the webhook, then the connection dropped: the view finds it; no second add.
    smtp2go_conn.sandbox.inject_fault("webhook/add", kind="drop_after", count=1)
    with Smtp2goHook() as hook:
        result = hook.ensure_webhook(URL, ["bounce"])

    (webhook,) = registered(smtp2go_conn.sandbox)
    assert result == {"id": webhook.id, "action": "created", "url": URL}
    assert counts(smtp2go_conn.sandbox) == {"view": 2, "add": 1, "edit": 0}


def test_adds_that_keep_failing_raise_after_two_without_a_duplicate(smtp2go_conn, webhook_secret) -> None:
    from airflow_provider_smtp2go.client import Smtp2goAmbiguousSendError

    smtp2go_conn.sandbox.inject_fault("webhook/add", status=500, count=5)
    with Smtp2goHook() as hook, pytest.raises(Smtp2goAmbiguousSendError):
        hook.ensure_webhook(URL, ["bounce"])
    assert registered(smtp2go_conn.sandbox) == []
    assert counts(smtp2go_conn.sandbox) == {"view": 3, "add": 2, "edit": 0}


def test_a_missing_secret_or_connection_fails_the_task_before_any_request(smtp2go_conn, monkeypatch) -> None:
    from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goConnectionError

    monkeypatch.setenv("AIRFLOW_CONN_SMTP2GO_WEBHOOK", json.dumps({"conn_type": "generic", "login": "only-login"}))
    with Smtp2goHook() as hook, pytest.raises(Smtp2goConnectionError, match="no webhook secret") as no_secret:
        hook.ensure_webhook(URL, ["bounce"])
    assert (no_secret.value.conn_id, no_secret.value.field) == ("smtp2go_webhook", "password")

    monkeypatch.delenv("AIRFLOW_CONN_SMTP2GO_WEBHOOK")
    with Smtp2goHook() as hook, pytest.raises(Smtp2goConnectionError, match="no connection 'smtp2go_webhook'"):
        hook.ensure_webhook(URL, ["bounce"])
    assert counts(smtp2go_conn.sandbox) == {"view": 0, "add": 0, "edit": 0}


def everything_airflow_kept(airflow_home: Path, result: Any) -> str:
    """XCom, task logs on disk and the whole metadata DB, as text."""
    parts = [json.dumps(result.xcom, default=str)]
    parts += [f.read_text(errors="replace") for f in (airflow_home / "logs").rglob("*") if f.is_file()]
    parts.append((airflow_home / "airflow.db").read_bytes().decode("latin-1"))
    return "\n".join(parts)


def test_setup_dag_creates_then_leaves_unchanged_and_never_reveals_the_secret(  # noqa: PLR0917 (fixtures)
    run_dag, smtp2go_conn, webhook_secret, airflow_home, capfd, caplog
) -> None:
    created = run_dag(EXAMPLE, dag_id="example_smtp2go_webhook_setup")
    again = run_dag(EXAMPLE, dag_id="example_smtp2go_webhook_setup")

    assert created.state == again.state == "success", (created, again)
    (webhook,) = registered(smtp2go_conn.sandbox)
    assert webhook.auth_header_value == webhook_secret  # the secret really was used
    assert created.xcom["ensure_webhook"] == {"id": webhook.id, "action": "created", "url": webhook.url}
    assert again.xcom["ensure_webhook"]["action"] == "unchanged"
    captured = capfd.readouterr()
    assert "SMTP2GO webhook" in captured.out + captured.err + caplog.text  # logs were captured
    for name, text in {
        "stdout/stderr": captured.out + captured.err,
        "log records": caplog.text,
        "airflow state": everything_airflow_kept(airflow_home, created) + everything_airflow_kept(airflow_home, again),
    }.items():
        assert webhook_secret not in text, f"the webhook secret leaked into {name}"


def test_suppress_dag_suppresses_each_hard_bounced_address(run_dag, smtp2go_conn) -> None:
    recipients = ["gone@example.com", "Gone@example.com", "moved@example.org"]
    result = run_dag(EXAMPLE, dag_id="example_smtp2go_suppress_hard_bounces", run_conf={"recipients": recipients})

    assert result.state == "success", result
    assert result.xcom["suppress"] == {"suppressed": ["gone@example.com", "moved@example.org"]}
    assert smtp2go_conn.sandbox.request_count("suppression/add") == 2
    assert smtp2go_conn.sandbox.state.is_suppressed("gone@example.com")
    assert smtp2go_conn.sandbox.state.is_suppressed("moved@example.org")


def test_the_operator_is_registered_in_the_provider_info() -> None:
    from airflow_provider_smtp2go import get_provider_info

    (operators,) = get_provider_info()["operators"]
    assert "airflow_provider_smtp2go.operators.webhooks" in operators["python-modules"]
