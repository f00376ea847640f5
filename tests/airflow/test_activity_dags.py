"""The activity example DAGs under real Airflow (sqlite, ``dag.test()``) against the sandbox.

Each DAG runs in poke, reschedule and deferrable mode (the trigger runs inline under
``dag.test()``). "Opened 30 s after delivery" happens by advancing the sandbox clock once the
sensor has been seen waiting, never by sleeping 30 s; poll intervals are 0.2 s here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import EXAMPLE_DAGS, TEST_SENDER, DagRunResult, SandboxConnection

MODES = {
    "poke": {"SMTP2GO_EXAMPLE_DEFERRABLE": "false", "SMTP2GO_EXAMPLE_SENSOR_MODE": "poke"},
    "reschedule": {"SMTP2GO_EXAMPLE_DEFERRABLE": "false", "SMTP2GO_EXAMPLE_SENSOR_MODE": "reschedule"},
    "deferrable": {"SMTP2GO_EXAMPLE_DEFERRABLE": "true", "SMTP2GO_EXAMPLE_SENSOR_MODE": "poke"},
}


@pytest.fixture(params=list(MODES))
def sensor_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("SMTP2GO_EXAMPLE_POKE_INTERVAL", "0.2")
    # This process's share of the activity budget; the poller paces itself by it.
    monkeypatch.setenv("AIRFLOW__SMTP2GO__ACTIVITY_REQUESTS_PER_MINUTE", "600")
    for name, value in MODES[request.param].items():
        monkeypatch.setenv(name, value)
    yield request.param


class ClockDriver:
    """Advance the sandbox clock once the DAG has made ``after_requests`` activity searches."""

    def __init__(self, sandbox: Any, *, after_requests: int, seconds: float) -> None:
        self.sandbox = sandbox
        self.after_requests = after_requests
        self.seconds = seconds
        self.advanced = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            if self.sandbox.request_count("activity/search") >= self.after_requests:
                self.sandbox.clock.advance(self.seconds)
                self.advanced.set()
                return

    def __enter__(self) -> ClockDriver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def test_wait_for_open(sensor_mode: str, smtp2go_conn: SandboxConnection, run_dag: Callable[..., DagRunResult]) -> None:
    sb = smtp2go_conn.sandbox
    # 1 search for "delivered" (already true), then at least 2 for "opened" before it can be.
    with ClockDriver(sb, after_requests=3, seconds=31) as clock:
        result = run_dag(EXAMPLE_DAGS / "example_smtp2go_wait_for_open.py")
    assert result.state == "success", result.task_states
    assert clock.advanced.is_set(), "the sensor never waited"
    (message,) = sb.messages()
    assert message.to == ["reader+open-30s@example.com"]
    opened = result.xcom["wait_opened"]
    assert opened["status"] == "success"
    assert [(e["email_id"], e["event"]) for e in opened["events"]] == [(message.email_id, "opened")]
    assert result.xcom["follow_up"]["email_id"] == message.email_id
    assert result.xcom["follow_up"]["recipient"] == "reader+open-30s@example.com"


def test_a_hard_bounce_fails_the_delivery_wait_naming_it(
    sensor_mode: str, smtp2go_conn: SandboxConnection, run_dag: Callable[..., DagRunResult]
) -> None:
    result = run_dag(
        EXAMPLE_DAGS / "example_smtp2go_wait_for_open.py", run_conf={"recipient": "gone+hard-bounce@example.com"}
    )
    assert result.state == "failed"
    assert result.task_states["wait_delivered"] == "failed"
    assert result.task_states["follow_up"] != "success"


def test_bounce_handling(
    sensor_mode: str, smtp2go_conn: SandboxConnection, run_dag: Callable[..., DagRunResult]
) -> None:
    sb = smtp2go_conn.sandbox
    recipients = ["alice@example.com", "old+hard-bounce@example.com", "slow+soft-bounce-20s@example.com"]
    with ClockDriver(sb, after_requests=2, seconds=21) as clock:
        result = run_dag(
            EXAMPLE_DAGS / "example_smtp2go_bounce_handling.py",
            dag_id="example_smtp2go_bounce_handling",
            run_conf={"recipients": recipients, "ops": "ops@example.com"},
        )
    assert result.state == "success", result.task_states
    assert clock.advanced.is_set()
    assert result.xcom["handle_bounces"] == {
        "bounced": ["old+hard-bounce@example.com", "slow+soft-bounce-20s@example.com"],
        "delivered": ["alice@example.com"],
    }
    alerts = [m for m in sb.messages() if m.to == ["ops@example.com"]]
    assert len(alerts) == 1
    assert alerts[0].sender_address == TEST_SENDER
    assert "old+hard-bounce@example.com: hard-bounced" in alerts[0].text_body
    assert sb.request_count("activity/search") >= 2
