"""Smtp2goNotifier: default and custom content, sync and async paths, Deadline Alert shape."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_smtp2go._compat import AIRFLOW_V_3_1_PLUS, DAG, AirflowFailException
from airflow_provider_smtp2go.notifications.smtp2go import (
    Smtp2goNotifier,
    notification_summary,
    send_smtp2go_notification,
)


def etl_dag() -> Any:
    return DAG("etl", schedule=None, start_date=datetime(2025, 1, 1, tzinfo=timezone.utc))


def failure_context(**overrides: Any) -> dict[str, Any]:
    ti = SimpleNamespace(
        dag_id="etl",
        task_id="load",
        run_id="manual__2025-05-01",
        try_number=2,
        max_tries=3,
        map_index=-1,
        state="failed",
        log_url="http://airflow.example.com/dags/etl/runs/manual__2025-05-01/tasks/load?try_number=2",
    )
    context: dict[str, Any] = {
        "ti": ti,
        "task_instance": ti,
        "dag": etl_dag(),
        "dag_run": SimpleNamespace(dag_id="etl", run_id="manual__2025-05-01", state="running"),
        "run_id": "manual__2025-05-01",
        "logical_date": datetime(2025, 5, 1, tzinfo=timezone.utc),
        "exception": ValueError("row 7 has <no> id"),
        "params": {"team": "data"},
    }
    context.update(overrides)
    return context


def test_alias() -> None:
    assert send_smtp2go_notification is Smtp2goNotifier


def test_default_email_shows_what_failed_and_where_the_log_is(smtp2go_conn) -> None:
    Smtp2goNotifier(to="oncall@example.com")(failure_context())

    (message,) = smtp2go_conn.sandbox.messages()
    assert message.to == ["oncall@example.com"]
    assert message.sender_address == smtp2go_conn.extra["sender"]
    assert message.subject == "[Airflow] etl.load: failed (manual__2025-05-01)"
    html = message.html_body
    for expected in (
        "etl",
        "load",
        "manual__2025-05-01",
        "2025-05-01",
        "2 of 4",
        "ValueError: row 7 has &lt;no&gt; id",
    ):
        assert expected in html, expected
    assert 'href="http://airflow.example.com/dags/etl/runs/manual__2025-05-01/tasks/load?try_number=2"' in html


def test_every_field_is_overridable_and_templated(smtp2go_conn) -> None:
    notifier = Smtp2goNotifier(
        to=["{{ params.team }}@example.com"],
        cc="lead@example.com",
        sender="Alerts <alerts@example.com>",
        subject="{{ params.team }}: {{ ti.task_id }} try {{ ti.try_number }}",
        text_body="{{ notification.exception }}",
        custom_headers={"X-Team": "{{ params.team }}"},
        attachments=[{"content": "{{ run_id }}", "filename": "run.txt"}],
    )
    notifier(failure_context())
    (message,) = smtp2go_conn.sandbox.messages()
    assert message.to == ["data@example.com"]
    assert message.cc == ["lead@example.com"]
    assert message.sender_address == "alerts@example.com"
    assert message.subject == "data: load try 2"
    assert message.text_body == "ValueError: row 7 has <no> id"
    assert message.html_body == ""  # a text body was given: no default HTML added
    assert message.custom_headers.get("X-Team") == "data"
    assert message.attachments[0].size == len("manual__2025-05-01")


def test_dag_level_context_without_a_task(smtp2go_conn) -> None:
    context = {
        "dag": etl_dag(),
        "dag_run": SimpleNamespace(dag_id="etl", run_id="scheduled__x", state="failed"),
        "reason": "task_failure",
    }
    Smtp2goNotifier(to="oncall@example.com")(context)
    (message,) = smtp2go_conn.sandbox.messages()
    assert message.subject == "[Airflow] etl: failed (scheduled__x)"
    assert "task_failure" in message.html_body


def test_async_notify_sends_through_the_async_client(smtp2go_conn) -> None:
    notifier = Smtp2goNotifier(to="oncall@example.com", subject="async {{ ti.task_id }}")
    context = failure_context()
    notifier.render_template_fields(context)
    asyncio.run(notifier.async_notify(context))
    (message,) = smtp2go_conn.sandbox.messages()
    assert message.subject == "async load"


@pytest.mark.skipif(not AIRFLOW_V_3_1_PLUS, reason="Deadline Alerts (AsyncCallback) need Airflow 3.1+")
def test_deadline_alert_callback_shape(smtp2go_conn) -> None:
    # The triggerer runs: await Smtp2goNotifier(**kwargs, context=context)
    try:
        from airflow.sdk import AsyncCallback
    except ImportError:  # Airflow 3.1 does not re-export it yet
        from airflow.sdk.definitions.deadline import AsyncCallback

    AsyncCallback(Smtp2goNotifier, kwargs={"to": "oncall@example.com"})  # accepted as a callback
    # The shape the scheduler builds (Deadline.handle_miss): the REST API's DAGRunResponse.
    context = {
        "dag_run": {"dag_id": "etl", "dag_run_id": "scheduled__y", "state": "running"},
        "deadline": {"id": "d1", "deadline_time": "2025-05-01T10:00:00+00:00"},
    }

    async def fire() -> None:
        await Smtp2goNotifier(to="oncall@example.com", context=context)

    asyncio.run(fire())
    (message,) = smtp2go_conn.sandbox.messages()
    assert message.subject == "[Airflow] etl: missed its deadline (scheduled__y)"
    assert "2025-05-01T10:00:00+00:00" in message.html_body


def test_send_failure_raises_an_airflow_error(smtp2go_conn) -> None:
    smtp2go_conn.sandbox.inject_fault("email/send", status=400, count=1)
    notifier = Smtp2goNotifier(to="oncall@example.com")
    context = failure_context()
    notifier.render_template_fields(context)
    # notify() raises; Airflow's own __call__ logs the error (Airflow 2) or re-raises it (3.x).
    with pytest.raises(AirflowFailException, match="400"):
        notifier.notify(context)


def test_to_is_required() -> None:
    with pytest.raises(TypeError, match="to="):
        Smtp2goNotifier()


def test_summary_tolerates_an_empty_context() -> None:
    summary = notification_summary({})
    assert summary["dag_id"] == "unknown DAG"
    assert summary["state"] == "notification"
    assert summary["task_id"] is None


def test_an_html_attachment_is_attached_not_loaded_as_a_template(smtp2go_conn, tmp_path) -> None:
    page = tmp_path / "report.html"
    page.write_text("<p>{{ not a template }}</p>")
    notifier = Smtp2goNotifier(to="oncall@example.com", repeat="send", attachments=[str(page)])
    notifier(failure_context())
    (message,) = smtp2go_conn.sandbox.messages()
    assert [(a.filename, a.size) for a in message.attachments] == [("report.html", page.stat().st_size)]


def test_a_notifier_called_again_renders_from_its_templates(smtp2go_conn) -> None:
    notifier = Smtp2goNotifier(to="oncall@example.com", repeat="send", subject="{{ ti.task_id }} {{ run_id }}")
    notifier(failure_context())
    notifier(failure_context(run_id="manual__2025-05-02"))
    assert [m.subject for m in smtp2go_conn.sandbox.messages()] == [
        "load manual__2025-05-01",
        "load manual__2025-05-02",
    ]


def test_a_typo_in_repeat_is_refused_when_the_dag_is_parsed() -> None:
    with pytest.raises(ValueError, match="repeat"):
        Smtp2goNotifier(to="oncall@example.com", repeat="mute")  # type: ignore[arg-type]
