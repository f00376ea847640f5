"""Every example DAG, run with real Airflow (``dag.test()`` on sqlite) against the sandbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import airflow_version

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = REPO_ROOT / "example_dags"
REPORT_DAG = EXAMPLE_DAGS / "example_smtp2go_report.py"


@pytest.fixture
def example_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SMTP2GO_EXAMPLE_STORAGE", f"file://{tmp_path}/reports")
    return tmp_path / "reports"


def test_example_dags_import_cleanly() -> None:
    from airflow_provider_smtp2go._compat import DAG

    files = sorted(EXAMPLE_DAGS.glob("*.py"))
    assert REPORT_DAG in files
    for path in files:
        import importlib.util

        spec = importlib.util.spec_from_file_location(f"_import_check_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert any(isinstance(value, DAG) for value in vars(module).values()), path


def test_report_dag_sends_the_templated_report_with_its_attachment(run_dag, smtp2go_conn, example_storage) -> None:
    result = run_dag(REPORT_DAG)

    assert result.state == "success", result
    assert result.task_states == {"build_report": "success", "send_report": "success"}
    (message,) = smtp2go_conn.sandbox.messages()
    report = result.xcom["build_report"]
    ds = Path(report["path"]).stem.removeprefix("sales-")
    assert message.to == ["reports@example.com"]
    assert message.sender_address == smtp2go_conn.extra["sender"]
    assert message.subject == f"Daily sales report for {ds}"
    # The body came from templates/smtp2go_report.html, rendered with the upstream XCom.
    assert f"Sales report for {ds}" in message.html_body
    assert f"<strong>{report['total']}</strong> orders" in message.html_body
    assert f"{report['total']} orders" in message.text_body
    assert message.custom_headers.get("X-Report-Date") == ds
    (attachment,) = message.attachments
    csv_file = example_storage / f"sales-{ds}.csv"
    assert attachment.filename == csv_file.name
    assert attachment.mimetype == "text/csv"
    assert attachment.size == len(csv_file.read_bytes())
    # The operator's XCom names the email SMTP2GO received.
    assert result.xcom["send_report"]["email_id"] == message.email_id
    assert result.xcom["send_report"]["failed"] == 0


def test_report_dag_alerts_on_call_when_the_send_is_rejected(run_dag, smtp2go_conn, example_storage) -> None:
    # SMTP2GO rejects the report once (a 400): the task must fail at once, without Airflow
    # retries (the DAG sets retries=1), and the failure callback must alert on-call.
    smtp2go_conn.sandbox.inject_fault("email/send", status=400, count=1)

    result = run_dag(REPORT_DAG)

    assert result.state == "failed"
    assert result.task_states == {"build_report": "success", "send_report": "failed"}
    assert smtp2go_conn.sandbox.request_count("email/send") == 2  # the rejected report + the alert
    (alert,) = smtp2go_conn.sandbox.messages()
    assert alert.to == ["oncall@example.com"]
    assert "example_smtp2go_report.send_report" in alert.subject
    assert "failed" in alert.subject
    if not (3, 0) <= airflow_version() < (3, 3):
        # dag.test() of Airflow 3.0-3.2 leaves the exception out of the failure callback's
        # context (a real worker passes it).
        assert "AirflowFailException" in alert.html_body
    assert "Try" in alert.html_body
    assert "send_report" not in result.xcom
