"""``Smtp2goSyncTemplatesOperator`` in real DAG runs against the sandbox: a dry run changes
nothing, a second sync is a no-op, only ``prune=True`` deletes, the log names the changed
field, a malformed folder fails naming the file; plus the example DAG end to end."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_smtp2go._compat import AirflowFailException
from airflow_provider_smtp2go.operators.templates import Smtp2goSyncTemplatesOperator

REPO = Path(__file__).resolve().parents[2]
SYNC_DAG = Path(__file__).parent / "dags" / "smtp2go_test_sync_templates.py"
EXAMPLE_DAG = REPO / "example_dags" / "example_smtp2go_templates.py"
EXAMPLE_TEMPLATES = REPO / "example_dags" / "templates" / "smtp2go"
WRITES = ("template/add", "template/edit", "template/delete")


def rows(summary: dict[str, Any], key: str) -> list[str]:
    return [row["id"] for row in summary[key]]


def test_dry_run_then_sync_then_a_no_op_then_prune(run_dag: Any, smtp2go_conn: Any) -> None:
    sb = smtp2go_conn.sandbox
    sb.add_template("order-receipt", "Your order", text_body="old", name="Order receipt")
    sb.add_template("legacy-01", "Old", text_body="old", name="Legacy")
    result = run_dag(SYNC_DAG)
    assert result.state == "success", result
    plan, sync, again, prune = (result.xcom[t] for t in ("plan", "sync", "again", "prune"))

    assert plan["dry_run"] is True and sync["dry_run"] is False
    for summary in (plan, sync):
        assert rows(summary, "created") == ["welcome"]
        assert summary["updated"] == [
            {
                "name": "Order receipt",
                "id": "order-receipt",
                "fields": ["subject", "html_body", "text_body", "template_variables", "tags"],
            }
        ]
        assert rows(summary, "kept") == ["legacy-01"] and summary["deleted"] == []
    assert (rows(again, "created"), again["updated"], again["deleted"]) == ([], [], [])
    assert rows(again, "unchanged") == ["order-receipt", "welcome"]
    assert rows(prune, "deleted") == ["legacy-01"]
    assert sorted(t.id for t in sb.state.templates()) == ["order-receipt", "welcome"]
    assert sb.request_count("template/delete") == 1


def test_a_dry_run_changes_nothing_and_logs_the_diff(
    smtp2go_conn: Any, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = smtp2go_conn.sandbox
    sb.add_template("welcome", "Welcome to Example, {{ first_name }}", text_body="Hi", name="welcome")
    sb.add_template("legacy-01", "Old", text_body="old", name="Legacy")
    op = Smtp2goSyncTemplatesOperator(task_id="plan", folder=EXAMPLE_TEMPLATES, prune=True)
    with caplog.at_level(logging.INFO):
        summary = op.execute({})
    assert summary["dry_run"] is True
    assert rows(summary, "created") == ["order-receipt"] and rows(summary, "deleted") == ["legacy-01"]
    assert sum(sb.request_count(path) for path in WRITES) == 0
    assert sorted(t.id for t in sb.state.templates()) == ["legacy-01", "welcome"]
    assert sb.state.template("welcome").text_body == "Hi"  # type: ignore[union-attr]
    log = caplog.text + capsys.readouterr().out  # Airflow 3 logs through structlog to stdout
    assert "dry run, nothing changed" in log
    assert "~ update 'welcome' [welcome] (text_body, template_variables)" in log
    assert "--- remote/welcome/text_body\n+++ local/welcome/body.txt" in log
    assert "- delete 'Legacy' [legacy-01]" in log


def test_a_bad_folder_fails_the_task_naming_the_file(smtp2go_conn: Any, tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    shutil.copytree(EXAMPLE_TEMPLATES, folder)
    (folder / "welcome" / "variables.json").write_text('{"first_name": 7}')
    op = Smtp2goSyncTemplatesOperator(task_id="sync", folder=folder, dry_run=False)
    with pytest.raises(AirflowFailException, match=r"welcome/variables\.json: field 'first_name'"):
        op.execute({})
    assert smtp2go_conn.sandbox.request_count() == 0  # refused before the network


def test_the_example_dag_checks_syncs_and_sends_with_the_template(run_dag: Any, smtp2go_conn: Any) -> None:
    result = run_dag(EXAMPLE_DAG)
    assert result.state == "success", result
    assert result.xcom["check_templates"] == ["Order receipt", "welcome"]
    assert rows(result.xcom["sync_templates"], "created") == ["order-receipt", "welcome"]
    [message] = smtp2go_conn.sandbox.messages()
    assert message.subject == "Your order B-2002 is confirmed"
    assert "Hello Grace," in message.text_body


def test_importing_the_operator_stays_cheap() -> None:
    code = (
        "import sys, airflow, airflow_provider_smtp2go._compat\n"
        "before = set(sys.modules)\n"
        "import airflow_provider_smtp2go.operators.templates\n"
        "heavy = ['airflow_provider_smtp2go.client.sync', 'airflow_provider_smtp2go.sandbox', 'requests', 'httpx',\n"
        "         'airflow_provider_smtp2go.templates.plan', 'difflib']\n"
        "print(sorted(m for m in heavy if m in set(sys.modules) - before))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"
