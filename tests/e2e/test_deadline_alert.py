"""A Deadline Alert under a real scheduler and triggerer emails through ``Smtp2goNotifier``.

``tests/e2e/dags/smtp2go_e2e_deadline_alert.py`` gives its runs a 3 s deadline and a task that
takes 30 s. The scheduler sees the deadline pass, the triggerer runs the ``AsyncCallback``
(the notifier's ``async_notify``: async connection access, httpx to the sandbox), and the
email arrives while the task is still running.
"""

from __future__ import annotations

import time

import pytest

from .conftest import AirflowStack

DAG_ID = "smtp2go_e2e_deadline_alert"
RECIPIENT = "oncall+deadline@example.com"


def _run_state(stack: AirflowStack, run_id: str) -> str | None:
    rows = stack.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", (DAG_ID, run_id))
    return rows[0][0] if rows else None


@pytest.mark.e2e
@pytest.mark.timeout(280)
def test_a_missed_deadline_emails_from_the_triggerer(airflow_stack: AirflowStack) -> None:
    stack = airflow_stack
    sb = stack.sandbox
    sb.reset()
    stack.wait_for(
        "the dag-processor to parse the deadline DAG",
        lambda: stack.query("SELECT 1 FROM serialized_dag WHERE dag_id = ?", (DAG_ID,)),
        timeout=90,
    )
    if stack.query("SELECT is_paused FROM dag WHERE dag_id = ?", (DAG_ID,))[0][0]:
        stack.cli("dags", "unpause", DAG_ID)
    run_id = f"e2e_deadline__{int(time.time())}"
    stack.cli("dags", "trigger", DAG_ID, "--run-id", run_id)

    def deadline_email() -> list[object]:
        if _run_state(stack, run_id) in ("success", "failed"):
            raise AssertionError(f"the run ended before the deadline email arrived\n{stack.diagnostics()}")
        return [m for m in sb.messages() if RECIPIENT in m.to]

    (message,) = stack.wait_for("the Deadline Alert's email", deadline_email, timeout=120, interval=0.5)
    assert message.subject == f"[Airflow] {DAG_ID}: missed its deadline ({run_id})"
    assert message.sender_address == "airflow-e2e@example.com"  # the connection's sender extra
    assert run_id in message.html_body

    # It came from the triggerer, through the async path (deadline_email() checked that the run
    # was still going). The triggerer logs the send once the API call has returned.
    sent = f"SMTP2GO notification sent: email_id={message.email_id}"
    stack.wait_for("the triggerer to log the send", lambda: sent in stack.log_text("triggerer"), timeout=30)
    assert "Deadline" in message.html_body  # the deadline time is shown
    stack.wait_for("the run to finish", lambda: _run_state(stack, run_id) in ("success", "failed"), timeout=90)
    assert _run_state(stack, run_id) == "success"
    assert len([m for m in sb.messages() if RECIPIENT in m.to]) == 1  # one deadline, one email
