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
from airflow_provider_smtp2go.notifications.alert_policy import (
    MAX_DIGEST_RUNS,
    AlertDecision,
    AlertPolicy,
    FakeHistory,
    PastRun,
    decide,
)

DAGS = TEST_DAGS / "smtp2go_test_alert_floods.py"
#: dag.test()'s name for the run's date.
DATE_ARGUMENT = "logical_date" if AIRFLOW_VERSION >= (3, 0, 0) else "execution_date"
FAILURES = 20

needs_task_history = pytest.mark.skipif(
    AIRFLOW_VERSION[0] == 3 and AIRFLOW_VERSION < (3, 2, 0),
    reason="Airflow 3.0/3.1 tasks cannot read earlier runs (no get_previous_ti): storm control sends every alert",
)


def run_flood(dag_id: str) -> list[Any]:
    """20 failing runs then one success, on consecutive days; returns each run's final state."""
    dag = load_dag(DAGS, dag_id)
    start = datetime(2025, 6, 1, tzinfo=timezone.utc)
    states = []
    for day in range(FAILURES + 1):
        when = {DATE_ARGUMENT: start + timedelta(days=day)}
        run = dag.test(run_conf={"fail": day < FAILURES}, **when)
        states.append(str(getattr(run.state, "value", run.state)))
    assert states == ["failed"] * FAILURES + ["success"]
    return states


@needs_task_history
def test_default_alerts_on_change_of_state_failure_then_recovered(airflow_db, smtp2go_conn) -> None:
    run_flood("smtp2go_test_flood_default")

    failed, recovered = smtp2go_conn.sandbox.messages()  # 2 emails for 21 runs
    assert failed.subject.startswith("[Airflow] smtp2go_test_flood_default.load: failed (")
    if AIRFLOW_VERSION >= (3, 3, 0) or AIRFLOW_VERSION[0] == 2:
        # dag.test() on 3.0-3.2 does not put the exception into the callback's context (a real
        # worker does), so only these versions can show it here.
        assert "RuntimeError: the warehouse is down" in failed.html_body
    assert recovered.subject.startswith("[Airflow] smtp2go_test_flood_default.load: recovered (")
    assert f"Recovered after {FAILURES} failed runs" in recovered.html_body
    # The digest: the 19 failures that sent nothing.
    assert f"Muted alerts ({FAILURES - 1})" in recovered.html_body
    assert recovered.html_body.count("<tr><td>manual__") == FAILURES - 1
    # The pair is one thread: the recovery answers the failure.
    assert recovered.custom_headers["In-Reply-To"] == failed.custom_headers["Message-ID"]
    assert recovered.custom_headers["References"] == failed.custom_headers["Message-ID"]


@needs_task_history
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


@needs_task_history
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


# -- the policy's rules over a written-out history (no Airflow run needed) ------------------------

T0 = datetime(2025, 6, 1, tzinfo=timezone.utc)


def hourly_failures(count: int) -> list[PastRun]:
    """A success at T0, then ``count`` hourly failures; newest first, as history reads."""
    runs = [PastRun(f"run{h}", "failed", end_date=T0 + timedelta(hours=h)) for h in range(1, count + 1)]
    return [*runs[::-1], PastRun("run0", "success", end_date=T0)]


def rule(policy: AlertPolicy, runs: list[PastRun], hour: int, event: str = "failure") -> AlertDecision:
    return decide(
        policy,
        event,
        FakeHistory(runs),
        identity=("etl", "load", -1),
        now=T0 + timedelta(hours=hour),
        current=f"r{hour}",
    )


def test_suppress_with_a_window_sends_one_reminder_per_window_with_what_was_muted() -> None:
    policy = AlertPolicy(repeat="suppress", window=timedelta(hours=6))
    sent = {}
    for hour in range(1, 15):  # failures at 1..14 h after the success at T0
        decision = rule(policy, hourly_failures(hour - 1), hour)
        if decision.send:
            sent[hour] = decision
    # windows [0,6) [6,12) [12,18) from the last success: one email each
    assert sorted(sent) == [1, 6, 12]
    assert sent[1].kind == "failure"
    assert [r.run_id for r in sent[6].muted] == ["run2", "run3", "run4", "run5"]
    assert [r.run_id for r in sent[12].muted] == [f"run{h}" for h in range(7, 12)]
    assert sent[12].headers["In-Reply-To"] == sent[1].headers["Message-ID"]  # one thread per incident


def test_thread_with_a_window_starts_a_new_thread_each_window() -> None:
    policy = AlertPolicy(repeat="thread", window=timedelta(hours=6))
    decisions = {hour: rule(policy, hourly_failures(hour - 1), hour) for hour in range(1, 9)}
    assert all(d.send for d in decisions.values())
    first_root = decisions[1].headers["Message-ID"]
    assert {decisions[h].headers["In-Reply-To"] for h in range(2, 6)} == {first_root}
    second_root = decisions[6].headers["Message-ID"]
    assert second_root != first_root and not decisions[6].reply
    assert decisions[7].headers["In-Reply-To"] == second_root


def test_success_after_success_sends_nothing_and_recovery_digests_the_streak() -> None:
    policy = AlertPolicy()
    assert not rule(policy, [PastRun("run0", "success", end_date=T0)], 1, "success").send
    recovered = rule(policy, hourly_failures(5), 6, "success")
    assert recovered.send and recovered.kind == "recovered"
    assert [r.run_id for r in recovered.streak] == [f"run{h}" for h in range(1, 6)]
    assert [r.run_id for r in recovered.muted] == [f"run{h}" for h in range(2, 6)]


def test_a_digest_stops_at_its_bound_and_says_so() -> None:
    recovered = rule(AlertPolicy(), hourly_failures(MAX_DIGEST_RUNS + 30), 200, "success")
    assert len(recovered.streak) == MAX_DIGEST_RUNS and recovered.truncated


def test_unreadable_history_and_other_events_send() -> None:
    assert decide(AlertPolicy(), "failure", None, identity=("etl", "load", -1)).send
    assert rule(AlertPolicy(), hourly_failures(3), 4, "other").send  # a Deadline Alert, a DAG callback


@pytest.mark.parametrize(
    ("env", "message"),
    [({"ALERT_REPEAT": "loud"}, "alert_repeat"), ({"ALERT_WINDOW": "an hour"}, "alert_window")],
)
def test_bad_config_names_the_option(monkeypatch, env: dict[str, str], message: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(f"AIRFLOW__SMTP2GO__{name}", value)
    with pytest.raises(ValueError, match=message):
        AlertPolicy.configured()


def test_config_window_is_seconds(monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__SMTP2GO__ALERT_WINDOW", "3600")
    assert AlertPolicy.configured() == AlertPolicy(repeat="suppress", window=timedelta(hours=1))
