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


# -- a missing or malformed connection is permanent, and says how to fix it (issue 12, 7 and 3) --


def test_a_missing_connection_fails_without_retries_and_says_how_to_create_it() -> None:
    from airflow_provider_smtp2go._compat import AirflowFailException
    from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goConnectionError

    with pytest.raises(Smtp2goConnectionError) as info:
        Smtp2goHook("smtp2go_nowhere").get_client()
    assert isinstance(info.value, AirflowFailException)
    message = str(info.value)
    assert "'smtp2go_nowhere' does not exist" in message
    assert "airflow connections add smtp2go_nowhere --conn-type smtp2go --conn-password" in message
    example = message.split("export AIRFLOW_CONN_SMTP2GO_NOWHERE=", 1)[1].strip().strip("'")
    assert json.loads(example) == {"conn_type": "smtp2go", "password": "<your SMTP2GO API key>"}
    with pytest.raises(Smtp2goConnectionError, match="smtp2go_nowhere' does not exist"):
        asyncio.run(Smtp2goHook("smtp2go_nowhere").aget_settings())
    import pickle

    copy = pickle.loads(pickle.dumps(info.value))
    assert (str(copy), copy.conn_id, copy.field) == (message, "smtp2go_nowhere", None)


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ({"max_attempts": 2.5}, "max_attempts", "max_attempts: must be a whole number, got 2.5"),
        ({"deadline": "abc"}, "deadline", "deadline: must be a number, got 'abc'"),
        ({"timeout": True}, "timeout", "timeout: must be a number, got True"),
        ({"deadline": "nan"}, "deadline", "deadline: must be a number, got 'nan'"),
    ],
)
def test_a_bad_stored_value_names_the_field_the_value_and_the_connection(
    monkeypatch: pytest.MonkeyPatch, extra: dict[str, object], field: str, words: str
) -> None:
    from airflow_provider_smtp2go._compat import AirflowFailException
    from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goConnectionError

    set_conn(monkeypatch, "smtp2go_typo", fake_key(), extra)
    with pytest.raises(Smtp2goConnectionError) as info:
        Smtp2goHook("smtp2go_typo").get_settings()
    assert isinstance(info.value, AirflowFailException)
    assert (info.value.conn_id, info.value.field) == ("smtp2go_typo", field)
    assert f"{words} (in connection 'smtp2go_typo')" in str(info.value)


def test_the_test_button_names_the_connection_being_tested_not_its_made_up_id(
    smtp2go_conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Airflow's test endpoint stores the form's values under a random id such as 'Xk3pQ9aZ'.
    set_conn(monkeypatch, "Xk3pQ9aZ", smtp2go_conn.api_key, {**smtp2go_conn.extra, "deadline": "abc"})
    ok, message = Smtp2goHook("Xk3pQ9aZ").test_connection()
    assert not ok
    assert "deadline: must be a number, got 'abc' (in the connection being tested)" in message
    assert "Xk3pQ9aZ" not in message
    assert smtp2go_conn.sandbox.request_count("api_keys/permissions") == 0


def test_a_rejected_key_is_explained_once_and_names_its_connection(
    smtp2go_conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_smtp2go.client import Smtp2goAuthError
    from airflow_provider_smtp2go.hooks.smtp2go import airflow_error

    wrong = fake_key()
    set_conn(monkeypatch, "smtp2go_old_key", wrong, smtp2go_conn.extra)
    hook = Smtp2goHook("smtp2go_old_key")
    with pytest.raises(Smtp2goAuthError) as info:
        hook.get_client().api_key_permissions()
    message = str(airflow_error(info.value, conn_id=hook.smtp2go_conn_id))
    assert message.lower().count("missing or invalid") == 1, message
    assert "connection 'smtp2go_old_key'" in message
    assert wrong not in message
    ok, tested = Smtp2goHook("smtp2go_old_key").test_connection()
    assert not ok and tested.lower().count("missing or invalid") == 1, tested


def test_an_unanswered_webhook_add_surfaced_to_airflow_gives_webhook_advice_not_email_advice(smtp2go_conn) -> None:
    from airflow_provider_smtp2go._compat import AirflowFailException
    from airflow_provider_smtp2go.client import Smtp2goAmbiguousSendError
    from airflow_provider_smtp2go.hooks.smtp2go import airflow_error

    smtp2go_conn.sandbox.inject_fault("webhook/add", status=500, count=1)
    with pytest.raises(Smtp2goAmbiguousSendError) as info:
        Smtp2goHook().get_client().add_webhook("http://127.0.0.1:9/hook", events=["bounce"])
    made_elsewhere = Smtp2goAmbiguousSendError("no answer", endpoint="webhook/add")
    for error in (info.value, made_elsewhere):
        surfaced = airflow_error(error)
        message = str(surfaced)
        assert isinstance(surfaced, AirflowFailException), message
        assert message.count("webhook may or may not have been added") == 1, message
        assert "email" not in message.lower() and "activity" not in message.lower(), message
        assert "will not be retried automatically" in message and "retry_ambiguous_sends=True" in message


@pytest.mark.parametrize(
    ("conn_json", "words"),
    [
        (None, "'smtp2go_broken' does not exist"),
        ('{"conn_type": "smtp2go", "password": "KEY", "extra": {"max_attempts": 2.5}}', "must be a whole number"),
    ],
    ids=["missing", "malformed"],
)
def test_a_task_with_a_broken_connection_fails_at_once_instead_of_retrying(
    run_dag, smtp2go_conn, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], *, conn_json, words
) -> None:
    from pathlib import Path

    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    monkeypatch.setenv("SMTP2GO_TEST_CONN_ID", "smtp2go_broken")
    monkeypatch.delenv("AIRFLOW_CONN_SMTP2GO_BROKEN", raising=False)
    if conn_json is not None:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP2GO_BROKEN", conn_json.replace("KEY", smtp2go_conn.api_key))
    result = run_dag(Path(__file__).parent / "dags" / "smtp2go_test_connection_errors.py")
    assert result.task_states == {"send": "failed"}, result  # not up_for_retry
    with create_session() as session:
        ti = session.query(TaskInstance).filter_by(dag_id=result.dag_id, run_id=result.run_id).one()
        assert ti.try_number == 1  # the task had 2 retries and used none
    assert words in capfd.readouterr().out  # the task log
    assert smtp2go_conn.sandbox.messages() == []
