"""Deferred ``Smtp2goActivitySensor``\\ s under a real scheduler + triggerer (Airflow 3, sqlite).

``tests/e2e/dags/smtp2go_e2e_wait_for_opens.py`` sends 20 emails (a mapped send task) and
waits for each to be opened with a mapped, deferrable sensor. The recipients open 600 s
(sandbox time) after delivery; every sensor defers at once (no worker poke). Once
the triggerer holds all 20 triggers, the test lets them wait a few poll intervals, then
advances the sandbox clock past the opens and watches the run finish.

What a user would notice, and what is asserted:

* the run succeeds and the follow-up task sees every open;
* the sensors really waited in the triggerer (20 claimed ``Smtp2goActivityTrigger`` rows,
  and each task log says it resumed after polls in the triggerer);
* every email arrived exactly once;
* while 20 sensors waited, the triggerer made about one ``/activity/search`` per interval in
  total, not one per sensor per interval.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from .conftest import AirflowStack

DAG_ID = "smtp2go_e2e_wait_for_opens"
EMAILS = 20  # the DAG's default (SMTP2GO_E2E_EMAILS)
POLL_INTERVAL = 1.0  # the DAG's default (SMTP2GO_E2E_POLL_INTERVAL)
HOLD_POLLS = 6  # intervals the sensors wait in the triggerer before the opens happen
OPEN_DELAY = 600  # the recipients' "+open-600s"
TRIGGER_CLASSPATH = "airflow_provider_smtp2go.triggers.smtp2go.Smtp2goActivityTrigger"


def _run_state(stack: AirflowStack, run_id: str) -> str | None:
    rows = stack.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", (DAG_ID, run_id))
    return rows[0][0] if rows else None


def _task_states(stack: AirflowStack, run_id: str) -> dict[str, list[str | None]]:
    states: dict[str, list[str | None]] = {}
    rows = stack.query(
        "SELECT task_id, map_index, state FROM task_instance WHERE dag_id = ? AND run_id = ? "
        "ORDER BY task_id, map_index",
        (DAG_ID, run_id),
    )
    for task_id, _, state in rows:
        states.setdefault(task_id, []).append(state)
    return states


def _fail_if_run_failed(stack: AirflowStack, run_id: str) -> None:
    if _run_state(stack, run_id) == "failed":
        raise AssertionError(f"the DAG run failed: {_task_states(stack, run_id)}\n{stack.diagnostics()}")


def _sensors_held_by_triggerer(stack: AirflowStack, run_id: str) -> list[str]:
    """Trigger classpaths of this run's deferred sensors that a triggerer has claimed."""
    _fail_if_run_failed(stack, run_id)
    rows = stack.query(
        'SELECT t.classpath FROM task_instance ti JOIN "trigger" t ON ti.trigger_id = t.id '
        "WHERE ti.dag_id = ? AND ti.run_id = ? AND ti.task_id = 'wait_opened' AND ti.state = 'deferred' "
        "AND t.triggerer_id IS NOT NULL",
        (DAG_ID, run_id),
    )
    classpaths = [row[0] for row in rows]
    return classpaths if len(classpaths) == EMAILS else []


def _xcom_return(stack: AirflowStack, run_id: str, task_id: str) -> Any:
    rows = stack.query(
        "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = 'return_value'",
        (DAG_ID, run_id, task_id),
    )
    assert rows, f"no XCom from {task_id}"
    value = rows[0][0]
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _sensor_logs(stack: AirflowStack, run_id: str) -> dict[str, tuple[str, str]]:
    """``map_index -> (task log, trigger log)`` of the sensors' first attempt."""
    folder = stack.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run_id}" / "task_id=wait_opened"
    logs = {}
    for task_log in sorted(folder.glob("map_index=*/attempt=1.log")):
        trigger_logs = sorted(task_log.parent.glob("attempt=1.log.trigger.*.log"))
        logs[task_log.parent.name] = (
            task_log.read_text(errors="replace"),
            "".join(path.read_text(errors="replace") for path in trigger_logs),
        )
    return logs


@pytest.mark.e2e
@pytest.mark.timeout(280)
def test_deferred_sensors_share_polls_in_a_real_triggerer(airflow_stack: AirflowStack) -> None:
    stack = airflow_stack
    sb = stack.sandbox
    sb.reset()
    stack.wait_for(
        "the dag-processor to parse the e2e DAG",
        lambda: stack.query("SELECT 1 FROM serialized_dag WHERE dag_id = ?", (DAG_ID,)),
        timeout=90,
    )
    # is_paused_upon_creation=False in the DAG; unpausing explicitly is what a user would do anyway.
    if stack.query("SELECT is_paused FROM dag WHERE dag_id = ?", (DAG_ID,))[0][0]:
        stack.cli("dags", "unpause", DAG_ID)
    run_id = f"e2e__{int(time.time())}"
    triggered = time.monotonic()
    stack.cli("dags", "trigger", DAG_ID, "--run-id", run_id)

    classpaths = stack.wait_for(
        f"all {EMAILS} sensors to be deferred and claimed by the triggerer",
        lambda: _sensors_held_by_triggerer(stack, run_id),
        timeout=150,
    )
    assert set(classpaths) == {TRIGGER_CLASSPATH}
    # Deferrable sensors defer at once: their workers made no search (issue 15's first-poke cost).
    assert sb.request_count("activity/search") <= (time.monotonic() - triggered) / POLL_INTERVAL + 2
    assert _task_states(stack, run_id)["send"] == ["success"] * EMAILS

    # Every sensor is now waiting in the triggerer: count the searches they cost together.
    hold_start, searches_before = time.monotonic(), sb.request_count("activity/search")
    time.sleep(HOLD_POLLS * POLL_INTERVAL)
    stack.assert_alive()
    hold, searches_during_hold = time.monotonic() - hold_start, sb.request_count("activity/search") - searches_before
    assert _sensors_held_by_triggerer(stack, run_id), "a sensor stopped waiting before anything was opened"

    sb.clock.advance(OPEN_DELAY + 1)
    stack.wait_for(
        "the DAG run to finish", lambda: _run_state(stack, run_id) in ("success", "failed"), timeout=90, interval=0.5
    )
    elapsed = time.monotonic() - triggered

    assert _run_state(stack, run_id) == "success", f"{_task_states(stack, run_id)}\n{stack.diagnostics()}"
    assert _task_states(stack, run_id) == {
        "send": ["success"] * EMAILS,
        "wait_opened": ["success"] * EMAILS,
        "report": ["success"],
    }

    # Every email arrived, once.
    messages = sb.messages()
    assert sorted(m.to[0] for m in messages) == [f"reader{i:02d}+open-600s@example.com" for i in range(EMAILS)]
    assert sb.duplicates() == {}
    assert _xcom_return(stack, run_id, "report") == {
        "opened": sorted(
            ({"recipient": m.to[0], "email_id": m.email_id} for m in messages), key=lambda o: o["recipient"]
        )
    }

    # Each sensor deferred, its trigger fired in the triggerer, and it resumed
    # from that event (not from another poke in a worker).
    logs = _sensor_logs(stack, run_id)
    assert len(logs) == EMAILS
    for map_index, (task_log, trigger_log) in logs.items():
        assert "Pausing task as DEFERRED" in task_log, map_index
        assert "Trigger fired event" in trigger_log, map_index
        assert "poll(s) in the triggerer" in task_log, map_index

    # Shared polls: while 20 sensors waited, the triggerer made about one search per interval
    # (the poller never runs two cycles less than an interval apart), where a poll per sensor
    # per interval would have cost EMAILS * hold / POLL_INTERVAL.
    one_per_sensor = EMAILS * hold / POLL_INTERVAL
    assert 1 <= searches_during_hold <= hold / POLL_INTERVAL + 2, (searches_during_hold, hold)
    assert searches_during_hold * 5 < one_per_sensor
    # Over the whole run: only the shared polls (no worker pokes, no read-back on resuming).
    total = sb.request_count("activity/search")
    assert total <= elapsed / POLL_INTERVAL + 2
    print(
        f"\ne2e: run {elapsed:.1f} s; {searches_during_hold} searches while {EMAILS} sensors waited {hold:.1f} s "
        f"(one per sensor per poll: {one_per_sensor:.0f}); {total} searches in all"
    )
