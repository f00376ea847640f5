"""``Smtp2goActivitySensor`` without a metadata DB: parse-time validation, deferral, resuming."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from airflow_provider_smtp2go._compat import AirflowException, AirflowFailException
from airflow_provider_smtp2go.client import Email, Smtp2goClient, Smtp2goValidationError
from airflow_provider_smtp2go.sandbox import Smtp2goSandbox
from airflow_provider_smtp2go.sensors.smtp2go import Smtp2goActivitySensor
from airflow_provider_smtp2go.triggers.smtp2go import Smtp2goActivityTrigger

try:
    from airflow.sdk.exceptions import TaskDeferred
except ImportError:  # Airflow 2
    from airflow.exceptions import TaskDeferred


@pytest.fixture
def sb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Smtp2goSandbox]:
    with Smtp2goSandbox() as sandbox:
        conn = {"conn_type": "smtp2go", "password": sandbox.api_key, "extra": {"base_url": sandbox.base_url}}
        monkeypatch.setenv("AIRFLOW_CONN_SMTP2GO_DEFAULT", json.dumps(conn))
        yield sandbox


def send(sb: Smtp2goSandbox, to: str) -> str:
    with Smtp2goClient(sb.api_key, base_url=sb.base_url) as client:
        return client.send(Email(sender="ops@example.com", to=[to], subject="Hi", text_body="Hello")).email_id


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"email_ids": [], "event_types": ["opened"]}, "empty"),
        ({"email_ids": "x1", "event_types": ["openned"]}, "unknown event type 'openned'"),
        ({"email_ids": "x1", "since": datetime(2026, 11, 1)}, "timezone-aware"),
        ({"email_ids": "x1", "since": datetime.now(timezone.utc) - timedelta(days=45)}, "more than 30 days"),
        ({"email_ids": "x1", "match": "most"}, "'all' or 'any'"),
    ],
)
def test_bad_literals_fail_at_dag_parse(kwargs: dict[str, Any], text: str) -> None:
    with pytest.raises(Smtp2goValidationError, match=text):
        Smtp2goActivitySensor(task_id="wait", **kwargs)


def test_templated_values_are_checked_at_task_start(sb: Smtp2goSandbox) -> None:
    sensor = Smtp2goActivitySensor(task_id="wait", email_ids="{{ params.ids }}", since="{{ params.since }}")
    sensor.email_ids, sensor.since = "[]", None  # what rendering produced
    with pytest.raises(AirflowFailException, match="empty"):
        sensor.execute({})
    sensor.email_ids, sensor.since = "['x1']", "2026-11-01T00:00:00"
    with pytest.raises(AirflowFailException, match="timezone-aware"):
        sensor.execute({})
    assert sb.request_count("activity/search") == 0  # nothing was asked of SMTP2GO


def test_history_window_is_configurable() -> None:
    since = datetime.now(timezone.utc) - timedelta(days=45)
    Smtp2goActivitySensor(task_id="wait", email_ids="x1", since=since, history_days=90)


def test_deferrable_defers_at_once_with_everything_the_trigger_needs(sb: Smtp2goSandbox) -> None:
    """N deferrable sensors starting together cost no search on their workers (issue 15)."""
    email_id = send(sb, "reader+open-30s@example.com")
    sensor = Smtp2goActivitySensor(
        task_id="wait",
        email_ids={"email_id": email_id, "request_id": "r"},
        event_types=["opened"],
        deferrable=True,
        poke_interval=75,
        timeout=600,
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    assert sb.request_count("activity/search") == 0  # no poke on the worker: the triggerer's polls are shared
    trigger = deferred.value.trigger
    assert isinstance(trigger, Smtp2goActivityTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(seconds=600)
    kwargs = trigger.serialize()[1]
    assert kwargs["email_ids"] == [email_id]
    assert kwargs["event_types"] == ["opened"]
    assert kwargs["poll_interval"] == 75.0
    assert kwargs["source"] == "poll"


def test_poke_before_defer_pokes_once_on_the_worker_then_defers(sb: Smtp2goSandbox) -> None:
    email_id = send(sb, "reader+open-30s@example.com")
    sensor = Smtp2goActivitySensor(
        task_id="wait", email_ids=email_id, event_types=["opened"], deferrable=True, poke_before_defer=True
    )
    with pytest.raises(TaskDeferred):
        sensor.execute({})
    assert sb.request_count("activity/search") == 1


def test_deferrable_returns_at_once_when_already_satisfied(sb: Smtp2goSandbox) -> None:
    email_id = send(sb, "reader@example.com")
    sensor = Smtp2goActivitySensor(task_id="wait", email_ids=email_id, deferrable=True, poke_before_defer=True)
    result = sensor.execute({})
    assert result["status"] == "success"
    assert [e["event"] for e in result["events"]] == ["delivered"]


def test_poke_fails_fast_on_a_bounce_and_soft_fail_skips(sb: Smtp2goSandbox) -> None:
    email_id = send(sb, "gone+hard-bounce@example.com")
    sensor = Smtp2goActivitySensor(task_id="wait", email_ids=email_id, poke_interval=0.1)
    with pytest.raises(
        AirflowFailException, match=f"email {email_id} to gone\\+hard-bounce@example.com was hard-bounced"
    ):
        sensor.execute({})
    try:
        from airflow.sdk.exceptions import AirflowSkipException
    except ImportError:
        from airflow.exceptions import AirflowSkipException
    soft = Smtp2goActivitySensor(
        task_id="wait", email_ids=email_id, deferrable=True, soft_fail=True, poke_before_defer=True
    )
    with pytest.raises(AirflowSkipException):
        soft.execute({})


def run_trigger(trigger: Smtp2goActivityTrigger) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(first(), 10))


def test_a_resumed_sensor_puts_the_full_events_in_xcom_though_the_trigger_event_had_none(
    sb: Smtp2goSandbox,
) -> None:
    email_id = send(sb, "reader+open@example.com")
    sensor = Smtp2goActivitySensor(task_id="wait", email_ids=email_id, event_types=["opened"], deferrable=True)
    payload = run_trigger(
        Smtp2goActivityTrigger(
            email_ids=[email_id], event_types=["opened"], poll_interval=0.05, requests_per_minute=6000
        )
    )
    assert "reader+open@example.com" not in json.dumps(payload)
    result = sensor.execute_complete({}, payload)
    assert set(result) == {"status", "events", "email_ids", "pending_email_ids", "message"}
    (opened,) = result["events"]
    assert (opened["email_id"], opened["event"], opened["recipient"]) == (email_id, "opened", "reader+open@example.com")
    assert opened["subject"] == "Hi"  # every field of the activity event, as a poke returns it
    assert opened == sensor_poke_xcom(sb, email_id)["events"][0]


def test_with_a_fernet_key_a_resumed_sensor_needs_no_activity_search(
    sb: Smtp2goSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15: the trigger carries the full events sealed; 100 resuming sensors cost 0 calls, not 100."""
    pytest.importorskip("cryptography")
    from cryptography.fernet import Fernet

    from airflow_provider_smtp2go.triggers.sealed import airflow_fernet

    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", Fernet.generate_key().decode())
    forget_airflow_fernet()
    try:
        assert airflow_fernet() is not None
        email_id = send(sb, "reader+open@example.com")
        payload = run_trigger(
            Smtp2goActivityTrigger(
                email_ids=[email_id], event_types=["opened"], poll_interval=0.05, requests_per_minute=6000
            )
        )
        assert "reader+open@example.com" not in json.dumps(payload)  # sealed, not in the clear
        searches = sb.request_count("activity/search")
        sensor = Smtp2goActivitySensor(task_id="wait", email_ids=email_id, event_types=["opened"], deferrable=True)
        result = sensor.execute_complete({}, payload)
        assert sb.request_count("activity/search") == searches  # resuming cost nothing
        assert result["events"] == sensor_poke_xcom(sb, email_id)["events"]
    finally:
        forget_airflow_fernet()


def forget_airflow_fernet() -> None:
    """Make Airflow read ``[core] fernet_key`` again (Airflow 3 caches it with lru_cache, 2 in a global)."""
    try:
        from airflow.sdk.crypto import get_fernet

        get_fernet.cache_clear()
    except ImportError:  # Airflow 2
        from airflow.models import crypto

        crypto._fernet = None


def sensor_poke_xcom(sb: Smtp2goSandbox, email_id: str) -> dict[str, Any]:
    result = Smtp2goActivitySensor(task_id="poke", email_ids=email_id, event_types=["opened"]).poke({})
    assert result and not isinstance(result, bool)
    return dict(result.xcom_value)


def test_a_resumed_sensor_names_the_bounced_recipient_as_a_poke_would(sb: Smtp2goSandbox) -> None:
    email_id = send(sb, "gone+hard-bounce@example.com")
    payload = run_trigger(Smtp2goActivityTrigger(email_ids=[email_id], poll_interval=0.05, requests_per_minute=6000))
    assert payload["status"] == "failed" and "gone+" not in json.dumps(payload)
    sensor = Smtp2goActivitySensor(task_id="wait", email_ids=email_id, deferrable=True)
    with pytest.raises(AirflowFailException) as failed:
        sensor.execute_complete({}, payload)
    assert f"email {email_id} to gone+hard-bounce@example.com was hard-bounced at " in str(failed.value)
    assert "(failure event types: hard-bounced, rejected, spam; waited for delivered on 1 email(s) (all))" in str(
        failed.value
    )


def logged(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    """What the task logged: Airflow 3 logs through structlog (stdout here), Airflow 2 through
    logging, whose console handler writes the same lines to stdout too: read one source, not both
    (a count would double)."""
    out, records = capsys.readouterr().out, "\n".join(r.getMessage() for r in caplog.records)
    return max((out, records), key=lambda text: text.count("SMTP2GO"))


def test_when_the_details_cannot_be_read_the_xcom_keeps_the_short_events(
    sb: Smtp2goSandbox, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    summary = {"email_id": "x1", "event": "opened", "date": datetime.now(timezone.utc).isoformat()}
    success = {
        "status": "success",
        "events": [summary],
        "email_ids": ["x1"],
        "pending_email_ids": [],
        "message": "met",
        "polls": 3,
    }
    sb.inject_fault("activity/search", status=503, count=1)
    sensor = Smtp2goActivitySensor(task_id="wait", email_ids="x1", event_types=["opened"])
    with caplog.at_level(logging.WARNING):
        assert sensor.execute_complete({}, success) == {k: v for k, v in success.items() if k != "polls"}
    assert sb.request_count("activity/search") == 1  # one attempt, no retry budget spent on details
    assert "the XCom holds their email_id, event and date only" in logged(capsys, caplog)


def test_execute_complete_fails_with_the_trigger_message_on_errors() -> None:
    sensor = Smtp2goActivitySensor(task_id="wait", email_ids="x1", event_types=["opened"])
    with pytest.raises(AirflowException, match="5 times"):
        sensor.execute_complete({}, {"status": "error", "message": "failed 5 times in a row", "permanent": False})
    with pytest.raises(AirflowFailException):
        sensor.execute_complete({}, {"status": "error", "message": "bad key", "permanent": True})
    with pytest.raises(AirflowFailException, match="was hard-bounced"):
        sensor.execute_complete({}, {"status": "failed", "message": "email x1 was hard-bounced"})


@pytest.mark.timeout(60)
def test_a_rate_limited_poke_answers_not_yet_at_once_and_pokes_again_after_the_block(
    sb: Smtp2goSandbox,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    email_id = send(sb, "reader@example.com")
    sb.inject_fault("activity/search", status=429, retry_after=600, count=1)
    sensor = Smtp2goActivitySensor(task_id="wait", email_ids=email_id, poke_interval=60)
    with caplog.at_level(logging.WARNING):
        for _ in range(2):  # the 429 itself, then the process's limiter still waiting it out
            started = time.monotonic()
            assert sensor.poke({}) is False
            assert time.monotonic() - started < 2  # "not yet", not a worker blocked for 600 s
    assert sb.request_count("activity/search") == 1  # the second poke did not even ask
    text = logged(capsys, caplog)
    assert text.count("SMTP2GO rate limit: not yet; looking again at the next poke, in about 60 s") == 2
    assert "allows activity searches again in 600 s" in text
    assert sensor._poke_failures == 0  # a rate limit is not a failed poll

    # Ten minutes later (on the limiter's clock) the next poke asks SMTP2GO again and succeeds.
    limiter = sensor._activity_client()._activity_limiter
    assert limiter is not None
    real_clock = limiter._clock
    monkeypatch.setattr(limiter, "_clock", lambda: real_clock() + 601)
    result = sensor.poke({})
    assert result and not isinstance(result, bool)
    assert [e["event"] for e in result.xcom_value["events"]] == ["delivered"]
