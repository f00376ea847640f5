"""The ``[email] email_backend``: every calling convention of Airflow 2.11 and 3.x."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import airflow_version

from airflow_provider_smtp2go._compat import AirflowFailException
from airflow_provider_smtp2go.utils.emailer import send_email

BACKEND = "airflow_provider_smtp2go.utils.emailer.send_email"
TEST_DAGS = Path(__file__).resolve().parent / "dags"


def test_airflow2_convention_joined_string_files_and_extras(smtp2go_conn, tmp_path: Path) -> None:
    log_file = tmp_path / "error.log"
    log_file.write_text("Traceback ...\n")
    result = send_email(
        "first@example.com, second@example.com; third@example.com",
        "Airflow alert",
        "<p>Task failed</p>",
        files=[str(log_file)],
        dryrun=False,
        cc="copy@example.com",
        bcc=["hidden@example.com"],
        mime_subtype="mixed",
        mime_charset="utf-8",
        conn_id="smtp_default",  # Airflow's default [email] email_conn_id: means "not configured"
        custom_headers={"X-Priority": 1},
        from_email="Airflow <alerts@example.com>",
        some_future_kwarg=True,
    )
    (message,) = smtp2go_conn.sandbox.messages()
    assert result is not None and result["email_id"] == message.email_id
    assert message.to == ["first@example.com", "second@example.com", "third@example.com"]
    assert message.cc == ["copy@example.com"]
    assert message.bcc == ["hidden@example.com"]
    assert message.sender_address == "alerts@example.com"
    assert message.subject == "Airflow alert"
    assert message.html_body == "<p>Task failed</p>"
    assert message.custom_headers.get("X-Priority") == "1"
    assert [(a.filename, a.size) for a in message.attachments] == [("error.log", len("Traceback ...\n"))]


def test_airflow3_legacy_notifier_convention(smtp2go_conn) -> None:
    # _LegacyEmailBackendNotifier: backend(to, subject, html, conn_id=..., from_email=...)
    send_email(["oncall@example.com"], "Task failed", "<p>x</p>", conn_id=None, from_email="airflow@airflow")
    (message,) = smtp2go_conn.sandbox.messages()
    assert message.to == ["oncall@example.com"]
    # Airflow's placeholder sender gives way to the connection's configured sender.
    assert message.sender_address == smtp2go_conn.extra["sender"]


def test_named_smtp2go_connection_is_used(smtp2go_conn, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {**smtp2go_conn.extra, "sender": "team@example.com"}
    monkeypatch.setenv(
        "AIRFLOW_CONN_TEAM_SMTP2GO",
        json.dumps({"conn_type": "smtp2go", "password": smtp2go_conn.api_key, "extra": extra}),
    )
    send_email("a@example.com", "s", "<p>b</p>", conn_id="team_smtp2go")
    assert smtp2go_conn.sandbox.messages()[0].sender_address == "team@example.com"


def test_connection_of_another_type_falls_back_to_smtp2go_default(
    smtp2go_conn, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MY_SMTP", json.dumps({"conn_type": "smtp", "host": "mail.example.com"}))
    with caplog.at_level("WARNING"):
        send_email("a@example.com", "s", "<p>b</p>", conn_id="my_smtp")
    assert len(smtp2go_conn.sandbox.messages()) == 1
    assert "not smtp2go" in caplog.text


def test_dryrun_validates_but_sends_nothing(smtp2go_conn) -> None:
    assert send_email("a@example.com", "s", "<p>b</p>", dryrun=True) is None
    with pytest.raises(AirflowFailException, match="to"):
        send_email("not an address", "s", "<p>b</p>", dryrun=True)
    assert smtp2go_conn.sandbox.request_count() == 0


def test_failure_raises(smtp2go_conn) -> None:
    smtp2go_conn.sandbox.inject_fault("email/send", status=400, count=1)
    with pytest.raises(AirflowFailException):
        send_email("a@example.com", "s", "<p>b</p>")


#: Airflow minors whose ``email_on_failure`` never reaches a third-party ``email_backend``.
EMAIL_ON_FAILURE_BROKEN = {
    (3, 2): "Airflow 3.2 bypasses a third-party email_backend for failure emails (apache/airflow#65012)",
}


needs_email_on_failure = pytest.mark.skipif(
    airflow_version() in EMAIL_ON_FAILURE_BROKEN,
    reason=EMAIL_ON_FAILURE_BROKEN.get(airflow_version(), "")
    + "; test_notifier_as_failure_callback_is_the_workaround covers it",
)


@needs_email_on_failure
def test_airflow_email_on_failure_goes_through_the_backend(
    run_dag, smtp2go_conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_BACKEND", BACKEND)

    result = run_dag(TEST_DAGS / "smtp2go_test_email_on_failure.py")

    assert result.task_states == {"boom": "failed"}
    (message,) = smtp2go_conn.sandbox.messages()
    assert message.to == ["oncall@example.com"]
    assert "boom" in message.subject
    assert message.sender_address == smtp2go_conn.extra["sender"]


@needs_email_on_failure
def test_airflow_alerts_are_threaded_per_task_with_a_stable_subject(
    run_dag, smtp2go_conn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__EMAIL__EMAIL_BACKEND", BACKEND)

    run_dag(TEST_DAGS / "smtp2go_test_email_on_failure.py")
    run_dag(TEST_DAGS / "smtp2go_test_email_on_failure.py")

    first, second = smtp2go_conn.sandbox.messages()
    # Airflow's subject names the run (3.x: the whole task instance); a thread needs one subject.
    assert first.subject == second.subject == "Airflow alert: smtp2go_test_email_on_failure.boom"
    root = first.custom_headers["References"]
    assert second.custom_headers["References"] == first.custom_headers["In-Reply-To"] == root
    assert root.endswith("@example.com>")  # the sender's domain
    assert first.custom_headers["Message-ID"] != second.custom_headers["Message-ID"]


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Airflow alert: <TaskInstance: etl.load manual__2025-05-01 [failed]>", "Airflow alert: etl.load"),
        ("Airflow alert: <TaskInstance: etl.load manual__1 map_index=3 [up_for_retry]>", "Airflow alert: etl.load[3]"),
        (
            "Airflow alert: id=UUID('x') task_id='load' dag_id='etl' run_id='r1' try_number=1 map_index=-1",
            "Airflow alert: etl.load",
        ),
        ("Nightly load failed", "Nightly load failed"),  # not Airflow's: left alone, not threaded
    ],
)
def test_backend_recognises_airflow_alert_subjects(smtp2go_conn, subject: str, expected: str) -> None:
    send_email("a@example.com", subject, "<p>b</p>")
    (message,) = smtp2go_conn.sandbox.messages()
    assert message.subject == expected
    assert ("References" in message.custom_headers) == (expected != subject)


def test_backend_threading_off_with_alert_repeat_send(smtp2go_conn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__SMTP2GO__ALERT_REPEAT", "send")
    subject = "Airflow alert: <TaskInstance: etl.load manual__2025-05-01 [failed]>"
    send_email("a@example.com", subject, "<p>b</p>")
    (message,) = smtp2go_conn.sandbox.messages()
    assert message.subject == subject
    assert "References" not in message.custom_headers


def test_notifier_as_failure_callback_is_the_workaround(run_dag, smtp2go_conn) -> None:
    # README's advice where email_on_failure cannot reach the backend: it must deliver on every minor.
    result = run_dag(TEST_DAGS / "smtp2go_test_failure_callback.py")

    assert result.task_states == {"boom": "failed"}
    (message,) = smtp2go_conn.sandbox.messages()
    assert message.to == ["oncall@example.com"]
    assert "smtp2go_test_failure_callback.boom" in message.subject
    assert message.sender_address == smtp2go_conn.extra["sender"]
