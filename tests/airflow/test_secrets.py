"""The API key never shows: not in task logs, XCom, rendered fields, the metadata DB or errors.

A distinctive key is built at runtime (never committed) and registered with the sandbox, so
the operator, the notifier and the email backend really use it.
"""

from __future__ import annotations

import json
import secrets
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_smtp2go._compat import AirflowException

REPORT_DAG = Path(__file__).resolve().parents[2] / "example_dags" / "example_smtp2go_report.py"


def distinctive_key() -> str:
    return "api-" + secrets.token_hex(16).upper()


@pytest.fixture
def secret_key(smtp2go_conn, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    key = distinctive_key()
    smtp2go_conn.sandbox.add_api_key(key)
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP2GO_DEFAULT",
        json.dumps({"conn_type": "smtp2go", "password": key, "extra": smtp2go_conn.extra}),
    )
    monkeypatch.setenv("SMTP2GO_EXAMPLE_STORAGE", f"file://{tmp_path}/reports")
    yield key


def everything_airflow_kept(airflow_home: Path, result) -> str:
    """XCom, rendered fields, task logs on disk and the whole metadata DB, as text."""
    from airflow.utils.session import create_session

    try:
        from airflow.models.renderedtifields import RenderedTaskInstanceFields
    except ImportError:  # pragma: no cover
        RenderedTaskInstanceFields = None

    parts = [json.dumps(result.xcom, default=str)]
    if RenderedTaskInstanceFields is not None:
        with create_session() as session:
            rows = session.query(RenderedTaskInstanceFields).filter(RenderedTaskInstanceFields.run_id == result.run_id)
            rendered = [json.dumps(row.rendered_fields, default=str) for row in rows]
        assert rendered, "expected rendered template fields to be stored"
        parts.extend(rendered)
    for log_file in (airflow_home / "logs").rglob("*"):
        if log_file.is_file():
            parts.append(log_file.read_text(errors="replace"))
    parts.append((airflow_home / "airflow.db").read_bytes().decode("latin-1"))
    return "\n".join(parts)


def test_operator_and_notifier_in_real_runs_never_reveal_the_key(  # noqa: PLR0917 (fixtures)
    run_dag, smtp2go_conn, secret_key, airflow_home, capfd, caplog
) -> None:
    ok = run_dag(REPORT_DAG)
    assert ok.state == "success"
    # Second run: SMTP2GO rejects the report, the notifier sends the alert with the same key.
    smtp2go_conn.sandbox.inject_fault("email/send", status=400, count=1)
    failed = run_dag(REPORT_DAG)
    assert failed.state == "failed"
    from airflow_provider_smtp2go.utils.emailer import send_email

    sent = send_email(["oncall@example.com"], "backend", "<p>x</p>", conn_id=None)
    assert sent is not None and secret_key not in json.dumps(sent)

    assert smtp2go_conn.sandbox.request_count(api_key=secret_key) >= 4  # the key really was used
    captured = capfd.readouterr()
    for name, text in {
        "stdout": captured.out,
        "stderr": captured.err,
        "log records": caplog.text,
        "airflow state (ok run)": everything_airflow_kept(airflow_home, ok),
        "airflow state (failed run)": everything_airflow_kept(airflow_home, failed),
    }.items():
        assert secret_key not in text, f"the API key leaked into {name}"
    assert "AirflowFailException" in captured.out + captured.err + caplog.text  # logs were captured


def _full_error_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) + repr(exc) + repr(exc.args)


def test_errors_never_carry_the_key(smtp2go_conn, monkeypatch: pytest.MonkeyPatch, capfd, caplog) -> None:
    from airflow_provider_smtp2go.hooks.smtp2go import Smtp2goHook
    from airflow_provider_smtp2go.notifications.smtp2go import Smtp2goNotifier
    from airflow_provider_smtp2go.operators.smtp2go import Smtp2goSendEmailOperator
    from airflow_provider_smtp2go.utils.emailer import send_email

    unknown = distinctive_key()  # SMTP2GO does not know it: every call is an auth error
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP2GO_DEFAULT",
        json.dumps({"conn_type": "smtp2go", "password": unknown, "extra": smtp2go_conn.extra}),
    )
    attempts = {
        "operator": lambda: Smtp2goSendEmailOperator(
            task_id="t", to="a@example.com", subject="s", text_body="b"
        ).execute({}),
        "notifier": lambda: Smtp2goNotifier(to="a@example.com", subject="s", text_body="b").notify({}),
        "backend": lambda: send_email("a@example.com", "s", "<p>b</p>"),
    }
    for name, attempt in attempts.items():
        with pytest.raises(AirflowException) as info:
            attempt()
        assert "Smtp2goAuthError" in str(info.value), name
        assert unknown not in _full_error_text(info.value), name

    ok, message = Smtp2goHook().test_connection()
    assert not ok
    assert unknown not in message
    hook = Smtp2goHook()
    assert unknown not in repr(hook.get_settings()) + repr(hook.get_client())
    captured = capfd.readouterr()
    assert unknown not in captured.out + captured.err + caplog.text
