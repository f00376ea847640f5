"""Storm control with real Airflow: a task fails 20 runs in a row, then succeeds.

Each run is a ``dag.test()`` against the session's sqlite DB, so the notifier reads the earlier
runs from Airflow's own history (``ti.get_previous_ti``), as it would on a worker. The emails
are counted and read in the sandbox.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import TEST_DAGS, load_dag

from airflow_provider_smtp2go._compat import AIRFLOW_VERSION

DAGS = TEST_DAGS / "smtp2go_test_alert_floods.py"
FAILURES = 20

pytestmark = pytest.mark.skipif(
    AIRFLOW_VERSION[0] == 3 and AIRFLOW_VERSION < (3, 2, 0),
    reason="Airflow 3.0/3.1 tasks cannot read earlier runs (no get_previous_ti): storm control sends every alert",
)


def run_flood(dag_id: str) -> list[Any]:
    """20 failing runs then one success, on consecutive days; returns each run's final state."""
    dag = load_dag(DAGS, dag_id)
    start = datetime(2025, 6, 1, tzinfo=timezone.utc)
    states = []
    for day in range(FAILURES + 1):
        run = dag.test(logical_date=start + timedelta(days=day), run_conf={"fail": day < FAILURES})
        states.append(str(getattr(run.state, "value", run.state)))
    assert states == ["failed"] * FAILURES + ["success"]
    return states


def test_default_alerts_on_change_of_state_failure_then_recovered(airflow_db, smtp2go_conn) -> None:
    run_flood("smtp2go_test_flood_default")

    failed, recovered = smtp2go_conn.sandbox.messages()  # 2 emails for 21 runs
    assert failed.subject.startswith("[Airflow] smtp2go_test_flood_default.load: failed (")
    assert "RuntimeError: the warehouse is down" in failed.html_body
    assert recovered.subject.startswith("[Airflow] smtp2go_test_flood_default.load: recovered (")
    assert f"Recovered after {FAILURES} failed runs" in recovered.html_body
    # The digest: the 19 failures that sent nothing.
    assert f"Muted alerts ({FAILURES - 1})" in recovered.html_body
    assert recovered.html_body.count("<tr><td>manual__") == FAILURES - 1
    # The pair is one thread: the recovery answers the failure.
    assert recovered.custom_headers["In-Reply-To"] == failed.custom_headers["Message-ID"]
    assert recovered.custom_headers["References"] == failed.custom_headers["Message-ID"]


def test_thread_sends_every_failure_in_one_thread(airflow_db, smtp2go_conn) -> None:
    run_flood("smtp2go_test_flood_thread")

    messages = smtp2go_conn.sandbox.messages()
    assert len(messages) == FAILURES + 1
    first, *replies = messages
    topic = "[Airflow] smtp2go_test_flood_thread.load: failed"  # no run id, no timestamp
    assert first.subject == topic
    assert [m.subject for m in replies] == [f"Re: {topic}"] * FAILURES
    root = first.custom_headers["Message-ID"]
    assert root.startswith("<airflow-alert.") and root.endswith("@example.com>")
    assert "In-Reply-To" not in first.custom_headers
    for reply in replies:
        assert reply.custom_headers["In-Reply-To"] == root
        assert reply.custom_headers["References"] == root
    assert len({m.custom_headers["Message-ID"] for m in messages}) == FAILURES + 1  # each its own id
    assert "Still failing" in replies[0].html_body
    assert f"Recovered after {FAILURES} failed runs" in replies[-1].html_body
    assert "Muted alerts" not in replies[-1].html_body  # nothing was muted


def test_alert_repeat_config_option_sets_the_default(airflow_db, smtp2go_conn, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__SMTP2GO__ALERT_REPEAT", "thread")
    run_flood("smtp2go_test_flood_configured")

    messages = smtp2go_conn.sandbox.messages()
    assert len(messages) == FAILURES + 1
    assert {m.custom_headers.get("References") for m in messages[1:]} == {messages[0].custom_headers["Message-ID"]}


def test_send_mode_is_the_old_behaviour(airflow_db, smtp2go_conn) -> None:
    run_flood("smtp2go_test_flood_send")

    messages = smtp2go_conn.sandbox.messages()
    assert len(messages) == FAILURES + 1
    assert all("Message-ID" not in m.custom_headers for m in messages)
    assert messages[-1].subject.startswith("[Airflow] smtp2go_test_flood_send.load: success (")
