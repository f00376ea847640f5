"""The webhook receiver in-process (FastAPI TestClient) against a real, migrated Airflow metadata DB.

And end to end with the sandbox: its deliveries over real HTTP to the receiver served by
uvicorn on 127.0.0.1.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from conftest import serve_asgi, sync_test_dag

from airflow_provider_smtp2go._compat import AIRFLOW_V_3_1_PLUS

pytestmark = pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="the receiver needs Airflow 3.1+")

TOKEN = "whk-" + "7" * 28
BOUNCE_DAG = "smtp2go_test_webhook_bounces"

BOUNCE_FORM = [
    ("event", "bounce"),
    ("time", "2026-11-26T10:00:00Z"),
    ("sendtime", "2026-11-26T09:59:58.123456+00:00"),
    ("email_id", "1vomg2-abc123-XY"),
    ("id", "e57b0000000000000000000000000001"),
    ("rcpt", "jo@example.com"),
    ("sender", "ops@example.com"),
    ("from", "ops@example.com"),
    ("subject", "Invoice"),
    ("Subject", "Invoice"),
    ("bounce", "hard"),
    ("host", "mx.example.com [192.0.2.25]"),
    ("message", "550 5.1.1 no such user"),
    ("context", "RCPT TO:<jo@example.com>"),
    ("auth", "api-0123456789AB"),
    ("X-Campaign", "autumn"),
]


def bounce_json(**changes: str) -> bytes:
    body: dict[str, Any] = dict(BOUNCE_FORM)
    body.update(changes)
    return json.dumps(body).encode()


def bounce_form(**changes: str) -> bytes:
    pairs = [(k, changes.get(k, v)) for k, v in BOUNCE_FORM]
    return urlencode(pairs).encode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def webhook_conn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SMTP2GO_WEBHOOK", json.dumps({"conn_type": "generic", "password": TOKEN}))
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP2GO_WEBHOOK_MARKETING",
        json.dumps({"conn_type": "generic", "login": "smtp2go", "password": "b4sic-pass"}),
    )


@pytest.fixture
def app(no_webhook_events: None, webhook_conn: None) -> Any:
    from airflow_provider_smtp2go.webhooks.receiver import create_app

    return create_app()


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


def asset_events(uri: str) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetEvent.extra).join(AssetModel, AssetModel.id == AssetEvent.asset_id).where(AssetModel.uri == uri)
        )
        return [dict(row[0]) for row in rows]


def receipt_count() -> int:
    from airflow.utils.session import create_session
    from sqlalchemy import func, inspect, select

    from airflow_provider_smtp2go.webhooks.dedupe import TABLE_NAME, receipts

    with create_session() as session:
        if not inspect(session.get_bind()).has_table(TABLE_NAME):
            return 0
        return int(session.scalar(select(func.count()).select_from(receipts)) or 0)


@pytest.fixture(autouse=True)
def _clean_db(airflow_db: Path) -> Iterator[None]:
    yield
    from airflow.models.asset import AssetDagRunQueue, AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    from airflow_provider_smtp2go.webhooks.dedupe import _created, receipts

    with create_session() as session:
        session.execute(delete(AssetEvent))
        session.execute(delete(AssetDagRunQueue))
        if _created:
            session.execute(delete(receipts))


# -- authentication -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {base64.b64encode(TOKEN.encode()).decode()}"},
        {"Authorization": TOKEN},
        {"Authorization": "Bearer \u00e9".encode("latin-1")},
    ],
    ids=["missing", "wrong", "longer", "wrong-scheme", "no-scheme", "non-ascii"],
)
def test_refused_posts_get_401_and_record_nothing(client: Any, headers: dict[str, Any]) -> None:
    response = client.post("/", content=bounce_form(), headers={**FORM, **headers})
    assert response.status_code == 401
    assert TOKEN not in response.text
    assert asset_events("smtp2go://default/hard-bounced") == []
    assert receipt_count() == 0


def test_an_account_without_a_connection_is_refused(client: Any) -> None:
    response = client.post("/sales", content=bounce_form(), headers={**FORM, **BEARER})
    assert response.status_code == 401
    assert asset_events("smtp2go://sales/hard-bounced") == []
    assert client.post("/Not_An-Account!", content=b"", headers=BEARER).status_code == 404


def test_basic_auth_from_login_and_password(client: Any) -> None:
    good = "Basic " + base64.b64encode(b"smtp2go:b4sic-pass").decode()
    bad = "Basic " + base64.b64encode(b"smtp2go:b4sic-pas").decode()
    assert client.post("/marketing", content=bounce_form(), headers={**FORM, "Authorization": bad}).status_code == 401
    response = client.post("/marketing", content=bounce_form(), headers={**FORM, "Authorization": good})
    assert response.status_code == 200, response.text
    assert [e["recipient"] for e in asset_events("smtp2go://marketing/hard-bounced")] == ["jo@example.com"]


def test_the_secret_never_reaches_the_logs(client: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    client.post("/", content=bounce_form(), headers={**FORM, "Authorization": "Bearer wrong"})
    client.post("/", content=bounce_form(), headers={**FORM, **BEARER})
    assert TOKEN not in caplog.text


# -- input and output ---------------------------------------------------------------------------


def test_a_bounce_becomes_one_asset_event_with_the_normalised_event(client: Any) -> None:
    response = client.post("/", content=bounce_form(), headers={**FORM, **BEARER})
    assert response.status_code == 200
    assert response.json() == {"created": 1, "duplicates": 0, "ignored": 0}
    [extra] = asset_events("smtp2go://default/hard-bounced")
    assert extra["event"] == "hard-bounced" and extra["email_id"] == "1vomg2-abc123-XY"
    assert extra["recipient"] == "jo@example.com" and extra["date"] == "2026-11-26T10:00:00+00:00"
    assert extra["smtp_response"] == "550 5.1.1 no such user" and extra["subject"] == "Invoice"
    assert extra["custom_headers"] == {"X-Campaign": "autumn"}
    assert extra["account"] == "default" and len(extra["dedupe_key"]) == 64 and extra["source"] == "webhook"


def test_duplicates_give_one_asset_event(client: Any) -> None:
    answers = [client.post("/", content=bounce_form(), headers={**FORM, **BEARER}).json() for _ in range(3)]
    # A retry carries a fresh callback id: still the same event.
    answers.append(client.post("/", content=bounce_form(id="f" * 32), headers={**FORM, **BEARER}).json())
    assert [a["created"] for a in answers] == [1, 0, 0, 0]
    assert [a["duplicates"] for a in answers] == [0, 1, 1, 1]
    assert len(asset_events("smtp2go://default/hard-bounced")) == 1
    assert receipt_count() == 1


def test_form_and_json_give_the_same_normalised_event(client: Any) -> None:
    from airflow_provider_smtp2go.webhooks.events import parse_events

    [from_form] = parse_events(FORM["Content-Type"], bounce_form())
    [from_json] = parse_events(JSON["Content-Type"], bounce_json())
    assert from_form == from_json
    assert {**from_form.to_dict(), "webhook": None} == {**from_json.to_dict(), "webhook": None}
    assert client.post("/", content=bounce_json(), headers={**JSON, **BEARER}).json()["created"] == 1
    assert client.post("/", content=bounce_form(), headers={**FORM, **BEARER}).json()["duplicates"] == 1


def test_processed_names_every_recipient_once(client: Any) -> None:
    body = urlencode(
        [
            ("event", "processed"),
            ("time", "2026-11-26T10:00:00Z"),
            ("email_id", "1vomg2-abc123-ZZ"),
            ("recipients", "a@example.com"),
            ("recipients", "b@example.com"),
        ]
    ).encode()
    assert client.post("/", content=body, headers={**FORM, **BEARER}).json()["created"] == 2
    extras = asset_events("smtp2go://default/processed")
    assert sorted(e["recipient"] for e in extras) == ["a@example.com", "b@example.com"]
    assert extras[0]["recipients"] == ["a@example.com", "b@example.com"]


def test_bad_bodies_are_400_and_sms_events_are_acknowledged(client: Any) -> None:
    headers = {**JSON, **BEARER}
    assert client.post("/", content=b"{not json", headers=headers).status_code == 400
    assert client.post("/", content=b'{"event": "bounce"}', headers=headers).status_code == 400  # no email_id
    sms = json.dumps({"event": "sms_delivered", "email_id": "x", "time": "2026-11-26T10:00:00Z"}).encode()
    assert client.post("/", content=sms, headers=headers).json() == {"created": 0, "duplicates": 0, "ignored": 1}
    assert receipt_count() == 0


def test_bodies_over_one_mebibyte_are_413(client: Any) -> None:
    big = bounce_form() + b"&padding=" + b"x" * (1024 * 1024)
    assert client.post("/", content=big, headers={**FORM, **BEARER}).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap holds while streaming too
        for _ in range(20):
            yield b"x" * 65536

    assert client.post("/", content=chunks(), headers={**FORM, **BEARER}).status_code == 413
    assert receipt_count() == 0


def test_a_database_failure_is_503_so_smtp2go_retries(client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_smtp2go.webhooks import assets

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database is locked")

    monkeypatch.setattr(assets, "_record_once", broken)
    response = client.post("/", content=bounce_form(), headers={**FORM, **BEARER})
    assert response.status_code == 503 and "locked" not in response.text
    monkeypatch.undo()
    assert client.post("/", content=bounce_form(), headers={**FORM, **BEARER}).json()["created"] == 1


def test_a_dag_scheduled_on_the_asset_is_queued(client: Any) -> None:
    from airflow.models.asset import AssetDagRunQueue
    from airflow.utils.session import create_session
    from sqlalchemy import select

    sync_test_dag(BOUNCE_DAG)

    assert client.post("/", content=bounce_form(), headers={**FORM, **BEARER}).json()["created"] == 1
    with create_session() as session:
        queued = session.scalars(select(AssetDagRunQueue.target_dag_id)).all()
    assert queued == [BOUNCE_DAG]


# -- the sandbox delivering to a real server ----------------------------------------------------


@pytest.fixture
def served(app: Any) -> Iterator[str]:
    with serve_asgi(app) as url:
        yield url


@pytest.mark.parametrize("output_format", ["form", "json"])
def test_sandbox_deliveries_with_duplicates_and_retries_become_one_event_each(served: str, output_format: str) -> None:
    from datetime import datetime, timezone

    from airflow_provider_smtp2go.client import Email, Smtp2goClient
    from airflow_provider_smtp2go.sandbox import SandboxClock, Smtp2goSandbox

    clock = SandboxClock(datetime(2026, 11, 26, 10, tzinfo=timezone.utc), frozen=True)
    with (
        Smtp2goSandbox(clock=clock) as sb,
        Smtp2goClient(sb.api_key, base_url=sb.base_url, activity_requests_per_minute=None) as smtp2go,
    ):
        smtp2go.add_webhook(
            f"{served}/",  # the app at the root here; the api-server mounts it at /smtp2go/webhooks
            events=["bounce", "processed"],
            output_format=output_format,
            auth_header_type="bearer",
            auth_header_value=TOKEN,
        )
        sb.webhooks.inject_fault("duplicate", count=3)
        sb.webhooks.inject_fault("out_of_order", event="processed")
        sb.webhooks.inject_fault("down", count=1)
        to = ["x+hard-bounce@example.com", "y+hard-bounce@example.com", "z@example.com"]
        email_id = smtp2go.send(Email(sender="ops@example.com", to=to, subject="Hi", text_body="Hello")).email_id
        assert sb.webhooks.drain(30)
        sb.clock.advance(60)  # the retry after the "down" attempt
        assert sb.webhooks.drain(30)
        deliveries = sb.webhooks.deliveries()
        assert {d["state"] for d in deliveries} == {"delivered"}
        assert len(deliveries) == 6  # processed + 2 bounces, each posted twice

    bounces = asset_events("smtp2go://default/hard-bounced")
    assert sorted(e["recipient"] for e in bounces) == ["x+hard-bounce@example.com", "y+hard-bounce@example.com"]
    assert {e["email_id"] for e in bounces} == {email_id}
    assert sorted(e["recipient"] for e in asset_events("smtp2go://default/processed")) == sorted(to)


# -- the startup heap -----------------------------------------------------------------------------


class RecordingCollector:
    """Stands in for :mod:`gc` (freezing pytest's own heap would outlive the test)."""

    def __init__(self, enabled: bool = True, frozen: int = 0) -> None:
        self.enabled, self.frozen, self.calls = enabled, frozen, []

    def isenabled(self) -> bool:
        return self.enabled

    def get_freeze_count(self) -> int:
        return self.frozen

    def collect(self) -> int:
        self.calls.append("collect")
        return 0

    def freeze(self) -> None:
        self.calls.append("freeze")
        self.frozen = 650_000


def test_the_first_post_freezes_the_startup_heap_once(no_webhook_events: None, webhook_conn: None) -> None:
    from fastapi.testclient import TestClient

    from airflow_provider_smtp2go.webhooks.heap import StartupHeap
    from airflow_provider_smtp2go.webhooks.receiver import create_app

    collector = RecordingCollector()
    with TestClient(create_app(heap=StartupHeap(collector=collector))) as client:
        assert client.get("/health").status_code == 200
        assert collector.calls == []  # a health probe is not a post
        assert client.post("/", content=bounce_form(), headers={**FORM, **BEARER}).status_code == 200
        assert collector.calls == ["collect", "freeze"]  # garbage is collected before freezing
        assert client.post("/", content=bounce_form(id="e2"), headers={**FORM, **BEARER}).status_code == 200
    assert collector.calls == ["collect", "freeze"]


@pytest.mark.parametrize("collector", [RecordingCollector(enabled=False), RecordingCollector(frozen=12)])
def test_a_process_that_manages_its_collector_is_left_alone(
    collector: RecordingCollector, no_webhook_events: None, webhook_conn: None
) -> None:
    from fastapi.testclient import TestClient

    from airflow_provider_smtp2go.webhooks.heap import StartupHeap
    from airflow_provider_smtp2go.webhooks.receiver import create_app

    with TestClient(create_app(heap=StartupHeap(collector=collector))) as client:
        assert client.post("/", content=bounce_form(), headers={**FORM, **BEARER}).status_code == 200
    assert collector.calls == []


@pytest.mark.parametrize(("setting", "freezes"), [(None, True), ("False", False)])
def test_the_plugin_freezes_unless_the_setting_says_no(
    setting: str | None, freezes: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_smtp2go.plugins.webhooks import _apps
    from airflow_provider_smtp2go.webhooks.heap import StartupHeap

    if setting is not None:
        monkeypatch.setenv("AIRFLOW__SMTP2GO__WEBHOOK_FREEZE_STARTUP_HEAP", setting)
    [entry] = _apps()
    assert isinstance(entry["app"].state.heap, StartupHeap) is freezes


# -- registration -------------------------------------------------------------------------------


def test_the_plugin_is_declared_in_the_provider_info_and_as_an_entry_point() -> None:
    import importlib
    from importlib.metadata import entry_points

    from airflow_provider_smtp2go import get_provider_info
    from airflow_provider_smtp2go.plugins.webhooks import Smtp2goWebhooksPlugin

    [declared] = get_provider_info()["plugins"]
    module, _, name = declared["plugin-class"].rpartition(".")
    assert getattr(importlib.import_module(module), name) is Smtp2goWebhooksPlugin
    [entry] = [e for e in entry_points(group="airflow.plugins") if e.value.startswith("airflow_provider_smtp2go")]
    assert entry.load() is Smtp2goWebhooksPlugin
    assert declared["name"] == entry.name == Smtp2goWebhooksPlugin.name
    [app] = Smtp2goWebhooksPlugin.fastapi_apps
    assert app["url_prefix"] == "/smtp2go/webhooks"
