"""Smtp2goHook: connection parsing, clients, connection test (against the sandbox, no DB)."""

from __future__ import annotations

import asyncio
import json
import secrets

import pytest

from airflow_provider_smtp2go.client import RetryPolicy, Smtp2goClient, Smtp2goValidationError
from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goConnectionSettings, Smtp2goHook


def fake_key() -> str:
    return "api-" + secrets.token_hex(16).upper()


def set_conn(monkeypatch: pytest.MonkeyPatch, conn_id: str, password: str | None, extra: dict[str, object]) -> None:
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "smtp2go", "password": password, "extra": extra})
    )


def test_class_attributes_follow_provider_conventions() -> None:
    assert Smtp2goHook.conn_type == "smtp2go"
    assert Smtp2goHook.default_conn_name == "smtp2go_default"
    assert Smtp2goHook.conn_name_attr == "smtp2go_conn_id"
    assert Smtp2goHook.hook_name == "SMTP2GO"


def test_init_does_no_io() -> None:
    # The connection does not exist: only using the hook may fail, not building it.
    hook = Smtp2goHook("no_such_connection_anywhere")
    assert hook.smtp2go_conn_id == "no_such_connection_anywhere"
    with pytest.raises(Exception, match="no_such_connection_anywhere"):
        hook.get_client()


@pytest.mark.parametrize(
    ("password", "extra", "field", "words"),
    [
        (None, {}, "password", "Password field"),
        ("   ", {}, "password", "no SMTP2GO API key"),
        ("k" * 24, {"region": "mars"}, "region", "global, us, eu, au"),
        ("k" * 24, {"timeout": "soon"}, "timeout", "must be a number"),
        ("k" * 24, {"timeout": -1}, "timeout", "greater than 0"),
        ("k" * 24, {"max_attempts": 2.5}, "max_attempts", "whole number"),
        ("k" * 24, {"deadline": 0}, "deadline", "greater than 0"),
    ],
)
def test_bad_connection_settings_name_the_problem(
    password: str | None, extra: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(Smtp2goValidationError) as info:
        Smtp2goConnectionSettings.from_connection("my_conn", password, extra)
    assert info.value.field == field
    assert words in str(info.value)
    assert "my_conn" in str(info.value)


def test_settings_accept_prefixed_form_extras_and_build_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    key = fake_key()
    set_conn(
        monkeypatch,
        "smtp2go_eu",
        key,
        {
            "extra__smtp2go__region": "EU",
            "extra__smtp2go__subaccount_id": "sub-1",
            "sender": "ops@example.com",
            "timeout": "12.5",
            "max_attempts": "3",
            "deadline": 42,
        },
    )
    hook = Smtp2goHook("smtp2go_eu")
    settings = hook.get_settings()
    assert (settings.region, settings.subaccount_id, settings.sender) == ("eu", "sub-1", "ops@example.com")
    assert settings.timeout == (5.0, 12.5)
    assert key not in repr(settings)
    client = hook.get_client()
    assert isinstance(client, Smtp2goClient)
    assert client is hook.get_client()  # cached per hook
    assert client.base_url == "https://eu-api.smtp2go.com/v3"
    assert client.subaccount_id == "sub-1"
    assert client.retry_policy == RetryPolicy(max_attempts=3, deadline=42.0)
    assert client.timeout == (5.0, 12.5)
    assert key not in repr(client)


def test_plain_http_base_url_is_refused_for_non_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "smtp2go_bad", fake_key(), {"base_url": "http://proxy.example.com/v3"})
    with pytest.raises(Smtp2goValidationError, match="https"):
        Smtp2goHook("smtp2go_bad").get_client()


def test_connection_test_checks_the_key_and_sends_nothing(smtp2go_conn) -> None:
    ok, message = Smtp2goHook().test_connection()
    assert ok, message
    assert smtp2go_conn.sandbox.base_url in message
    assert smtp2go_conn.sandbox.request_count("api_keys/permissions") == 1
    assert smtp2go_conn.sandbox.request_count("email/send") == 0
    assert smtp2go_conn.sandbox.messages() == []


def test_connection_test_reports_a_wrong_key(smtp2go_conn, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = fake_key()
    set_conn(monkeypatch, "smtp2go_default", wrong, smtp2go_conn.extra)
    ok, message = Smtp2goHook().test_connection()
    assert not ok
    assert "rejected the API key" in message
    assert wrong not in message


def test_connection_test_warns_when_the_key_cannot_send(smtp2go_conn, monkeypatch: pytest.MonkeyPatch) -> None:
    reader = fake_key()
    smtp2go_conn.sandbox.add_api_key(reader, permissions=["/activity/search"])
    set_conn(monkeypatch, "smtp2go_default", reader, smtp2go_conn.extra)
    ok, message = Smtp2goHook().test_connection()
    assert ok
    assert "may not send email" in message


def test_async_client_uses_the_same_connection(smtp2go_conn) -> None:
    async def main() -> list[str]:
        hook = Smtp2goHook()
        async with await hook.aget_client() as client:
            assert client.base_url == smtp2go_conn.sandbox.base_url
            return await client.api_key_permissions()

    permissions = asyncio.run(main())
    assert "/email/send" in permissions


def test_send_and_asend_reach_the_sandbox(smtp2go_conn) -> None:
    from airflow_provider_smtp2go.client import Email

    hook = Smtp2goHook()
    email = Email(sender=hook.default_sender or "", to="a@example.com", subject="sync", text_body="x")
    with hook:
        first = hook.send_email(email)
    second = asyncio.run(
        Smtp2goHook().asend_email(Email(sender="b@example.com", to="c@example.com", subject="async", text_body="y"))
    )
    received = {m.subject: m for m in smtp2go_conn.sandbox.messages()}
    assert received["sync"].email_id == first.email_id
    assert received["sync"].sender_address == "airflow@example.com"
    assert received["async"].email_id == second.email_id


def test_clients_take_this_process_share_of_the_activity_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "budget_conn", fake_key(), {"base_url": "http://127.0.0.1:9/v3"})
    monkeypatch.setenv("AIRFLOW__SMTP2GO__ACTIVITY_REQUESTS_PER_MINUTE", "20")
    client = Smtp2goHook("budget_conn").get_client()
    limiter = client._activity_limiter
    assert limiter is not None and limiter.limit == 20


def test_connection_settings_never_pickle_or_asdict_the_key() -> None:
    import dataclasses
    import pickle

    key = fake_key()
    settings = Smtp2goConnectionSettings.from_connection("c", key, {"region": "eu"})
    assert key not in repr(dataclasses.asdict(settings)) + repr(settings) + str(settings)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(settings)
    assert settings.api_key == key  # still usable for building a client
    assert key not in repr(settings.client_settings())


def test_client_factories_take_a_retry_policy_and_an_explicit_share(monkeypatch: pytest.MonkeyPatch) -> None:
    set_conn(monkeypatch, "share_conn", fake_key(), {"base_url": "http://127.0.0.1:9/v3", "max_attempts": 4})
    monkeypatch.setenv("AIRFLOW__SMTP2GO__ACTIVITY_REQUESTS_PER_MINUTE", "30")
    hook = Smtp2goHook("share_conn")
    assert hook.get_client().retry_policy.max_attempts == 4
    one_shot = hook.get_client(retry=RetryPolicy.no_retries(), activity_requests_per_minute=7)
    assert one_shot is not hook.get_client()  # built for the caller, not the cached client
    assert one_shot.retry_policy == RetryPolicy.no_retries()
    assert one_shot.settings.activity_requests_per_minute == 7
    limiter = one_shot._activity_limiter
    assert limiter is not None and limiter.limit == 7  # the explicit share reaches the limiter

    async def main() -> tuple[int, int | None]:
        async with await hook.aget_client(retry=RetryPolicy.no_retries(), activity_requests_per_minute=5) as c:
            return c.retry_policy.max_attempts, c.settings.activity_requests_per_minute

    assert asyncio.run(main()) == (1, 5)
    kwargs = hook.get_settings().client_kwargs(activity_requests_per_minute=9, max_attempts=1)
    assert kwargs["activity_requests_per_minute"] == 9 and kwargs["retry"].max_attempts == 1
