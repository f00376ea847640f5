"""``source="webhook"`` / ``"auto"`` and the sealed trigger events, against a real Airflow DB.

The sandbox delivers webhooks over real HTTP to the receiver (uvicorn on 127.0.0.1), which
files each event in the asset state store (:mod:`airflow_provider_smtp2go.webhooks.inbox`).
The trigger then reads it the way it does in a triggerer: ``AssetStateStoreAccessor.aget``
sends ``GetAssetStateStoreByUri`` to ``SUPERVISOR_COMMS``. Here that supervisor is a stand-in
that answers each message with Airflow's own Execution API route function on the real DB
(the route's "asset must be active" check included); ``tests/e2e/test_webhook_sensors.py``
runs the same path in a real triggerer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import activate_assets, serve_asgi

from airflow_provider_smtp2go._compat import AIRFLOW_VERSION
from airflow_provider_smtp2go.webhooks import inbox

pytestmark = pytest.mark.skipif(AIRFLOW_VERSION < (3, 3, 0), reason="the asset state store is Airflow 3.3+")

TOKEN = "whk-" + "5" * 28


class ExecutionApiComms:
    """Answers the state-store messages a trigger sends, through Airflow's Execution API route code."""

    def __init__(self) -> None:
        self.reads = 0

    def _answer(self, msg: Any) -> Any:
        from airflow.api_fastapi.execution_api.routes.asset_state_store import get_asset_state_store_by_uri
        from airflow.sdk.api.datamodels._generated import AssetStateStoreResponse
        from airflow.sdk.exceptions import ErrorType
        from airflow.sdk.execution_time.comms import AssetStateStoreResult, ErrorResponse
        from airflow.utils.session import create_session
        from fastapi import HTTPException

        self.reads += 1
        with create_session() as session:
            try:
                found = get_asset_state_store_by_uri(uri=msg.uri, key=msg.key, session=session)
            except HTTPException:
                return ErrorResponse(error=ErrorType.ASSET_STORE_NOT_FOUND, detail={"key": msg.key})
        return AssetStateStoreResult.from_asset_state_store_response(AssetStateStoreResponse(value=found.value))

    async def asend(self, msg: Any) -> Any:
        return await asyncio.to_thread(self._answer, msg)

    def send(self, msg: Any) -> Any:
        return self._answer(msg)


@pytest.fixture
def comms(monkeypatch: pytest.MonkeyPatch) -> ExecutionApiComms:
    from airflow.sdk.execution_time import task_runner

    stand_in = ExecutionApiComms()
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", stand_in, raising=False)
    return stand_in


@pytest.fixture
def fernet_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from airflow.sdk.crypto import get_fernet
    from cryptography.fernet import Fernet

    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", Fernet.generate_key().decode())
    get_fernet.cache_clear()
    yield
    get_fernet.cache_clear()


@pytest.fixture
def receiver(no_webhook_events: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from airflow_provider_smtp2go.webhooks.receiver import create_app

    monkeypatch.setenv("AIRFLOW_CONN_SMTP2GO_WEBHOOK", json.dumps({"conn_type": "generic", "password": TOKEN}))
    with serve_asgi(create_app()) as url:
        yield url


@pytest.fixture
def sb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from airflow_provider_smtp2go.sandbox import Smtp2goSandbox

    with Smtp2goSandbox() as sandbox:
        conn = {"conn_type": "smtp2go", "password": sandbox.api_key, "extra": {"base_url": sandbox.base_url}}
        monkeypatch.setenv("AIRFLOW_CONN_SMTP2GO_DEFAULT", json.dumps(conn))
        yield sandbox


def hook_up(sb: Any, receiver: str, events: list[str]) -> None:
    from airflow_provider_smtp2go.client import Smtp2goClient

    with Smtp2goClient(sb.api_key, base_url=sb.base_url) as client:
        client.add_webhook(f"{receiver}/", events=events, auth_header_type="bearer", auth_header_value=TOKEN)


def send(sb: Any, to: str) -> str:
    from airflow_provider_smtp2go.client import Email, Smtp2goClient

    with Smtp2goClient(sb.api_key, base_url=sb.base_url) as client:
        return client.send(Email(sender="ops@example.com", to=[to], subject="Hi", text_body="Hello")).email_id


def first_event(trigger: Any, timeout: float) -> dict[str, Any]:
    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")

    return asyncio.run(asyncio.wait_for(first(), timeout))


WATCHED = ("delivered", "hard-bounced", "rejected", "spam")


def test_a_webhook_sourced_wait_completes_from_the_receiver_without_any_activity_search(
    sb: Any, receiver: str, comms: ExecutionApiComms, fernet_key: None
) -> None:
    from airflow_provider_smtp2go.sensors.smtp2go import Smtp2goActivitySensor
    from airflow_provider_smtp2go.triggers.smtp2go import Smtp2goActivityTrigger

    activate_assets(*(f"smtp2go://default/{t}" for t in WATCHED))
    hook_up(sb, receiver, ["delivered", "bounce"])
    sb.webhooks.inject_fault("duplicate", count=2)
    email_id = send(sb, "reader@example.com")
    trigger = Smtp2goActivityTrigger(email_ids=[email_id], source="webhook", webhook_interval=0.2)
    started = time.monotonic()
    payload = first_event(trigger, timeout=10)
    assert time.monotonic() - started < 10
    assert payload["status"] == "success" and payload["email_ids"] == [email_id]
    assert "reader@example.com" not in json.dumps(payload)  # the clear part Airflow logs
    assert comms.reads >= len(WATCHED)
    sensor = Smtp2goActivitySensor(task_id="wait", email_ids=email_id, source="webhook", deferrable=True)
    result = sensor.execute_complete({}, payload)
    (delivered,) = result["events"]
    assert (delivered["email_id"], delivered["event"], delivered["recipient"]) == (
        email_id,
        "delivered",
        "reader@example.com",
    )
    assert sb.request_count("activity/search") == 0


def test_a_webhook_sourced_wait_fails_on_a_bounce_naming_the_recipient(
    sb: Any, receiver: str, comms: ExecutionApiComms, fernet_key: None
) -> None:
    from airflow_provider_smtp2go._compat import AirflowFailException
    from airflow_provider_smtp2go.sensors.smtp2go import Smtp2goActivitySensor
    from airflow_provider_smtp2go.triggers.smtp2go import Smtp2goActivityTrigger

    activate_assets(*(f"smtp2go://default/{t}" for t in WATCHED))
    hook_up(sb, receiver, ["delivered", "bounce"])
    email_id = send(sb, "gone+hard-bounce@example.com")
    payload = first_event(Smtp2goActivityTrigger(email_ids=[email_id], source="webhook", webhook_interval=0.2), 10)
    assert payload["status"] == "failed" and "gone+" not in json.dumps(payload)
    sensor = Smtp2goActivitySensor(task_id="wait", email_ids=email_id, source="webhook", deferrable=True)
    with pytest.raises(AirflowFailException, match=f"email {email_id} to gone\\+hard-bounce@example.com was hard"):
        sensor.execute_complete({}, payload)
    assert sb.request_count("activity/search") == 0


def test_a_deferrable_webhook_sensor_reads_the_inbox_before_deferring(
    sb: Any, receiver: str, comms: ExecutionApiComms
) -> None:
    """A retry (or a sensor starting late) finds its event recorded: it completes without deferring.

    This is also what recovers a try that Airflow failed in its defer/resume race (README,
    "Sensors fed by webhooks": give them ``retries=1``).
    """
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_provider_smtp2go.sensors.smtp2go import Smtp2goActivitySensor

    activate_assets(*(f"smtp2go://default/{t}" for t in WATCHED))
    hook_up(sb, receiver, ["delivered", "bounce"])
    waiting = send(sb, "later+deliver-3600s@example.com")
    sensor = Smtp2goActivitySensor(task_id="wait", email_ids=waiting, source="webhook", deferrable=True)
    with pytest.raises(TaskDeferred):
        sensor.execute({})
    assert comms.reads == len(WATCHED)  # looked, found nothing, deferred

    email_id = send(sb, "reader@example.com")
    sb.clock.advance(60)
    assert sb.webhooks.drain(10)
    sensor = Smtp2goActivitySensor(task_id="wait", email_ids=email_id, source="webhook", deferrable=True)
    result = sensor.execute({})
    (delivered,) = result["events"]
    assert (delivered["email_id"], delivered["recipient"]) == (email_id, "reader@example.com")
    assert sb.request_count("activity/search") == 0


def test_the_inbox_keeps_the_newest_event_when_webhooks_arrive_out_of_order(airflow_db: Path) -> None:
    from datetime import datetime, timedelta, timezone

    import sqlalchemy as sa
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session

    from airflow_provider_smtp2go.client.activity import ActivityEvent
    from airflow_provider_smtp2go.webhooks.assets import record_events

    when = datetime(2026, 11, 26, 10, tzinfo=timezone.utc)
    newer = ActivityEvent.from_api(
        {"email_id": "io-1", "event": "opened", "date": (when + timedelta(minutes=5)).isoformat()}
    )
    older = ActivityEvent.from_api({"email_id": "io-1", "event": "opened", "date": when.isoformat()})
    record_events("default", [newer])
    record_events("default", [older])
    with create_session() as session:
        asset_id = session.scalar(sa.select(AssetModel.id).where(AssetModel.uri == "smtp2go://default/opened"))
        from airflow._shared.state import AssetScope
        from airflow.state import get_state_backend

        stored = get_state_backend().get(AssetScope(asset_id=asset_id), inbox.inbox_key("io-1"), session=session)
    assert stored is not None and json.loads(stored)["date"] == newer.date.isoformat()


def test_auto_fills_the_gap_by_polling_when_no_webhook_arrives(
    sb: Any, comms: ExecutionApiComms, monkeypatch: pytest.MonkeyPatch, airflow_db: Path
) -> None:
    from airflow_provider_smtp2go.activity_watch import sources
    from airflow_provider_smtp2go.triggers.smtp2go import Smtp2goActivityTrigger

    monkeypatch.setattr(sources, "AUTO_POLL_INTERVAL", 0.3)  # the slow cadence, shortened for the test
    email_id = send(sb, "reader@example.com")  # no webhook is configured: none will ever arrive
    trigger = Smtp2goActivityTrigger(
        email_ids=[email_id], source="auto", poll_interval=0.1, webhook_interval=0.1, requests_per_minute=6000
    )
    payload = first_event(trigger, timeout=10)
    assert payload["status"] == "success" and payload["polls"] >= 1
    assert sb.request_count("activity/search") >= 1
    assert comms.reads >= 1  # it looked at the inbox too


def test_auto_completes_from_the_webhook_before_its_slow_poll(
    sb: Any, receiver: str, comms: ExecutionApiComms, airflow_db: Path
) -> None:
    from airflow_provider_smtp2go.triggers.smtp2go import Smtp2goActivityTrigger

    activate_assets(*(f"smtp2go://default/{t}" for t in WATCHED))
    hook_up(sb, receiver, ["delivered"])
    email_id = send(sb, "reader@example.com")
    trigger = Smtp2goActivityTrigger(email_ids=[email_id], source="auto", poll_interval=60, webhook_interval=0.2)
    payload = first_event(trigger, timeout=10)
    assert payload["status"] == "success" and payload["polls"] == 0
    assert sb.request_count("activity/search") == 0  # the first poll was 300 s away


def test_the_sensor_declares_the_watched_webhook_assets_as_inlets() -> None:
    from airflow_provider_smtp2go.sensors.smtp2go import Smtp2goActivitySensor

    sensor = Smtp2goActivitySensor(
        task_id="wait", email_ids="x1", event_types=["opened"], source="webhook", webhook_account="marketing"
    )
    assert sorted(a.uri for a in sensor.inlets) == [
        "smtp2go://marketing/hard-bounced",
        "smtp2go://marketing/opened",
        "smtp2go://marketing/rejected",
        "smtp2go://marketing/spam",
    ]
    assert Smtp2goActivitySensor(task_id="poll", email_ids="x1").inlets == []


def test_a_mapped_webhook_sensor_declares_its_assets_where_the_dag_processor_reads_them() -> None:
    """A mapped task's __init__ runs only on the worker: the inlets must be in partial_kwargs."""
    from airflow_provider_smtp2go.sensors.smtp2go import Smtp2goActivitySensor

    mapped = Smtp2goActivitySensor.partial(task_id="wait", event_types=["opened"], source="webhook").expand(
        email_ids=["a", "b"]
    )
    uris = sorted(a.uri for a in mapped.partial_kwargs["inlets"])
    assert uris == [f"smtp2go://default/{t}" for t in ("hard-bounced", "opened", "rejected", "spam")]


@pytest.fixture
def airflow_3_2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inbox, "AVAILABLE", False)
    monkeypatch.setattr(inbox, "AIRFLOW_VERSION", (3, 2, 1))


def test_before_airflow_3_3_webhook_is_refused_at_parse_and_at_deferral(airflow_3_2: None) -> None:
    from airflow_provider_smtp2go.sensors.smtp2go import Smtp2goActivitySensor
    from airflow_provider_smtp2go.triggers.smtp2go import Smtp2goActivityTrigger

    expected = r"source='webhook' needs Airflow 3\.3 or newer .*this is Airflow 3\.2\.1"
    with pytest.raises(ValueError, match=expected):
        Smtp2goActivitySensor(task_id="wait", email_ids="x1", source="webhook")
    with pytest.raises(ValueError, match=expected):
        Smtp2goActivityTrigger(email_ids=["x1"], source="webhook")
    with pytest.raises(ValueError, match=expected):  # a mapped sensor: refused at parse too
        Smtp2goActivitySensor.partial(task_id="wait", source="webhook")


def test_before_airflow_3_3_auto_polls_and_says_so_once(
    sb: Any, airflow_3_2: None, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_provider_smtp2go.triggers.smtp2go import Smtp2goActivityTrigger

    email_id = send(sb, "reader@example.com")
    trigger = Smtp2goActivityTrigger(email_ids=[email_id], source="auto", poll_interval=0.05, requests_per_minute=6000)
    with caplog.at_level(logging.INFO):
        payload = first_event(trigger, timeout=10)
    assert payload["status"] == "success"
    assert sb.request_count("activity/search") >= 1
    out, records = capsys.readouterr().out, "\n".join(r.getMessage() for r in caplog.records)
    text = max((out, records), key=lambda t: t.count("source='auto'"))
    assert text.count("source='auto' polls only: reading webhook events needs Airflow 3.3 or newer") == 1


def test_webhook_needs_email_ids() -> None:
    from airflow_provider_smtp2go.triggers.smtp2go import Smtp2goActivityTrigger

    with pytest.raises(ValueError, match="source='webhook' needs email_ids"):
        Smtp2goActivityTrigger(search_recipient="ops@example.com", source="webhook")


def test_an_auto_event_watcher_fires_only_for_events_the_webhooks_missed(
    sb: Any, receiver: str, comms: ExecutionApiComms, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gap filler of the DAG-level path: a bounce the receiver recorded is not fired again."""
    from airflow_provider_smtp2go.activity_watch import sources
    from airflow_provider_smtp2go.triggers.smtp2go import Smtp2goActivityEventTrigger

    monkeypatch.setattr(sources, "AUTO_POLL_INTERVAL", 0.3)
    activate_assets("smtp2go://default/hard-bounced")  # the watcher's asset: a parsed DAG declares it
    hook_up(sb, receiver, ["bounce"])
    trigger = Smtp2goActivityEventTrigger(event_types=["hard-bounced"], source="auto", poll_interval=0.1)

    async def scenario() -> dict[str, Any]:
        gen = trigger.run()
        first = asyncio.ensure_future(gen.__anext__())
        send(sb, "caught+hard-bounce@example.com")  # the receiver gets this one
        assert await asyncio.to_thread(sb.webhooks.drain, 30)
        sb.webhooks.inject_fault("down", count=50)  # and misses this one
        send(sb, "missed+hard-bounce@example.com")
        event = await asyncio.wait_for(first, 10)
        after = asyncio.ensure_future(gen.__anext__())
        polls = sb.request_count("activity/search")
        while sb.request_count("activity/search") < polls + 3:
            await asyncio.sleep(0.05)
        assert not after.done()  # "caught" was polled again and again, and never fired
        after.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await after
        await gen.aclose()
        return dict(event.payload)

    payload = asyncio.run(scenario())
    assert payload["recipient"] == "missed+hard-bounce@example.com"


def test_an_event_watcher_refuses_the_webhook_source() -> None:
    from airflow_provider_smtp2go.triggers.smtp2go import Smtp2goActivityEventTrigger

    with pytest.raises(ValueError, match=r"schedule the DAG on webhook_asset\(event_type\)"):
        Smtp2goActivityEventTrigger(source="webhook")
