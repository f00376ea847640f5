"""20 deferred ``source="webhook"`` sensors complete from webhook events, with 0 activity searches.

A real api-server (with the provider's plugin, so the receiver is at ``/smtp2go/webhooks``),
scheduler, dag-processor and triggerer (``tests/e2e/conftest.py``). The sandbox's webhook is
registered against the api-server with a bearer secret (connection ``smtp2go_webhook``) and
posts every ``open``/``bounce``/``spam``/``reject`` event there, with duplicates injected.
``tests/e2e/dags/smtp2go_e2e_webhook_sensors.py`` sends 20 emails whose recipients open them
600 s (sandbox time) after delivery; its mapped sensors defer at once. The test brings the
opens forward; the receiver files each open in the asset state store, and each trigger, which
reads it through the triggerer's supervisor, fires.

Asserted, from what the sandbox counted and the metadata DB:

* the run succeeds (a sensor that Airflow 3.3.2 fails in its defer/resume race, see the DAG,
  succeeds on its retry from the recorded event, still without a search), and every sensor's
  XCom holds its email's full ``opened`` event (the recipient too: the trigger carried it
  sealed, nothing was read back);
* ``/activity/search`` was called **0** times in the whole run;
* every sensor's trigger fired within 10 s of the last open webhook being answered 2xx;
* an unauthenticated post to the receiver is refused and records nothing.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from .conftest import AirflowStack

DAG_ID = "smtp2go_e2e_webhook_sensors"
EMAILS = 20
OPEN_DELAY = 600
TOKEN = "whk-e2e-" + "3" * 24
TRIGGER_CLASSPATH = "airflow_provider_smtp2go.triggers.smtp2go.Smtp2goActivityTrigger"


def _run_state(stack: AirflowStack, run_id: str) -> str | None:
    rows = stack.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", (DAG_ID, run_id))
    return rows[0][0] if rows else None


def _sensor_states(stack: AirflowStack, run_id: str) -> list[str | None]:
    rows = stack.query(
        "SELECT state FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = 'wait_opened' "
        "ORDER BY map_index",
        (DAG_ID, run_id),
    )
    return [r[0] for r in rows]


def _claimed(stack: AirflowStack, run_id: str) -> list[str]:
    if _run_state(stack, run_id) == "failed":
        raise AssertionError(f"the run failed: {_sensor_states(stack, run_id)}\n{stack.diagnostics()}")
    rows = stack.query(
        'SELECT t.classpath FROM task_instance ti JOIN "trigger" t ON ti.trigger_id = t.id '
        "WHERE ti.dag_id = ? AND ti.run_id = ? AND ti.task_id = 'wait_opened' AND ti.state = 'deferred' "
        "AND t.triggerer_id IS NOT NULL",
        (DAG_ID, run_id),
    )
    return [r[0] for r in rows] if len(rows) == EMAILS else []


def _tries(stack: AirflowStack, run_id: str) -> list[int]:
    rows = stack.query(
        "SELECT try_number FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = 'wait_opened'",
        (DAG_ID, run_id),
    )
    return [int(r[0]) for r in rows]


def _xcoms(stack: AirflowStack, run_id: str, task_id: str) -> dict[int, Any]:
    rows = stack.query(
        "SELECT map_index, value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = 'return_value'",
        (DAG_ID, run_id, task_id),
    )
    return {int(m): json.loads(v) if isinstance(v, (str, bytes)) else v for m, v in rows}


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@pytest.mark.e2e
@pytest.mark.timeout(400)
def test_webhook_sensors_complete_without_any_activity_search(airflow_stack: AirflowStack) -> None:
    from airflow_provider_smtp2go.client import Smtp2goClient

    stack, sb = airflow_stack, airflow_stack.sandbox
    sb.reset()
    receiver = f"{stack.api_url}/smtp2go/webhooks/"
    stack.cli("connections", "add", "smtp2go_webhook", "--conn-type", "generic", "--conn-password", TOKEN)
    with Smtp2goClient(sb.api_key, base_url=sb.base_url) as client:
        client.add_webhook(
            receiver, events=["open", "bounce", "spam", "reject"], auth_header_type="bearer", auth_header_value=TOKEN
        )
    refused = _post(receiver, b'{"event": "open", "email_id": "forged"}', {"Content-Type": "application/json"})
    assert refused == 401
    sb.webhooks.inject_fault("duplicate", count=EMAILS // 2)

    stack.wait_for(
        "the dag-processor to parse the webhook DAG",
        lambda: stack.query("SELECT 1 FROM serialized_dag WHERE dag_id = ?", (DAG_ID,)),
        timeout=120,
    )
    if stack.query("SELECT is_paused FROM dag WHERE dag_id = ?", (DAG_ID,))[0][0]:
        stack.cli("dags", "unpause", DAG_ID)
    # The sensors' inlets make the dag-processor keep the webhook assets active.
    stack.wait_for(
        "the webhook asset to be active",
        lambda: stack.query("SELECT 1 FROM asset_active WHERE uri = 'smtp2go://default/opened'"),
        timeout=60,
    )
    run_id = f"e2e_webhooks__{int(time.time())}"
    stack.cli("dags", "trigger", DAG_ID, "--run-id", run_id)
    classpaths = stack.wait_for(
        f"all {EMAILS} sensors to be deferred and claimed", lambda: _claimed(stack, run_id), timeout=200
    )
    assert set(classpaths) == {TRIGGER_CLASSPATH}

    sb.clock.advance(OPEN_DELAY + 1)
    assert sb.webhooks.drain(60), "the sandbox could not deliver the open webhooks"
    delivered_at = time.monotonic()
    stack.wait_for(
        "every sensor's trigger to fire",
        lambda: "deferred" not in _sensor_states(stack, run_id),
        timeout=60,
        interval=0.2,
    )
    fired_within = time.monotonic() - delivered_at
    stack.wait_for("the run to finish", lambda: _run_state(stack, run_id) in ("success", "failed"), timeout=120)
    assert _run_state(stack, run_id) == "success", f"{_sensor_states(stack, run_id)}\n{stack.diagnostics()}"

    opens = [d for d in sb.webhooks.deliveries() if d.get("event") in ("open", "opened")]
    searches = sb.request_count("activity/search")
    retried = sum(1 for tries in _tries(stack, run_id) if tries > 1)
    print(
        f"\ne2e webhooks: {EMAILS} sensors fired {fired_within:.1f} s after the last open webhook was answered; "
        f"{len(opens)} open deliveries (duplicates injected); {searches} activity searches; "
        f"{retried} sensor(s) retried after Airflow's stale-success race"
    )
    assert searches == 0
    assert fired_within <= 10.0
    messages = {m.email_id: m.to[0] for m in sb.messages()}
    results = _xcoms(stack, run_id, "wait_opened")
    assert sorted(results) == list(range(EMAILS))
    for result in results.values():
        (event,) = result["events"]
        assert event["event"] == "opened"
        assert event["recipient"] == messages[event["email_id"]]  # the full event, carried sealed
    assert sorted(o["email_id"] for o in _xcoms(stack, run_id, "report")[-1]["opened"]) == sorted(messages)
