"""SMTP2GO webhooks into a real Airflow 3 deployment: 50 hard bounces give exactly 50 DAG runs.

The ``airflow_webhook_stack`` (api-server with the provider's plugin, scheduler, dag-processor,
triggerer, sqlite) and the sandbox, which POSTs webhooks over loopback to the api-server:

1. a setup DAG registers the webhook with ``Smtp2goEnsureWebhookOperator``, as a user would;
2. posts without, or with a wrong, ``Authorization`` are answered 401 and record nothing;
3. one send to 50 hard-bounce recipients (plus 3 recipients that are delivered), with faults:
   the first 3 bounces held back until a later event's callback went out (out of order), the
   other 47 delivered twice (duplicates), and the receiver "down" for the first 2 attempts;
4. exactly 50 asset events and exactly 50 asset-triggered runs of the DAG scheduled on
   ``smtp2go://default/hard-bounced``, each run's task seeing its own one address;
5. the secret is in no component's log nor any task log;
6. the receiver froze the api-server's startup heap once, on its first post.

Why the test paces the bounces: Airflow queues one run per (DAG, asset) and a run consumes
every event recorded before the scheduler creates it, so bounces that land in the same
scheduler loop share one run (the reference, section 7.3).  Each recipient therefore bounces
600 s (sandbox time) after the previous one, the sandbox clock is frozen, and the test moves it
to the next due delivery only once the scheduler has made a run for every event so far.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from typing import Any

from .conftest import WEBHOOK_PREFIX, AirflowStack, webhook_secret

SETUP_DAG = "smtp2go_e2e_webhook_setup"
BOUNCE_DAG = "smtp2go_e2e_webhook_bounces"
URI = "smtp2go://default/hard-bounced"
BOUNCES = 50
HELD = 3  # bounces sent out of order (held until a later callback went out)
FIRST, SPACING = 600, 600  # sandbox seconds: recipient k bounces FIRST + SPACING * k after the send
MAX_STEPS = 400


def _bounce_address(k: int) -> str:
    return f"bounce{k:02d}+hard-bounce-{FIRST + SPACING * k}s@example.com"


def _marker_address(k: int) -> str:
    """Delivered 200 s after bounce ``k`` is due: its callback overtakes the held bounce."""
    return f"mark{k}+deliver-{FIRST + SPACING * k + 200}s@example.com"


def _count(stack: AirflowStack, sql: str, params: tuple[Any, ...] = ()) -> int:
    return int(stack.query(sql, params)[0][0])


def _bounce_events(stack: AirflowStack) -> list[dict[str, Any]]:
    rows = stack.query(
        "SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.uri = ? ORDER BY e.id", (URI,)
    )
    return [json.loads(extra) for (extra,) in rows]


def _receipts(stack: AirflowStack) -> int:
    if not stack.query("SELECT 1 FROM sqlite_master WHERE name = 'smtp2go_webhook_receipt'"):
        return 0
    return _count(stack, "SELECT count(*) FROM smtp2go_webhook_receipt")


def _asset_runs(stack: AirflowStack) -> int:
    return _count(
        stack, "SELECT count(*) FROM dag_run WHERE dag_id = ? AND run_type = 'asset_triggered'", (BOUNCE_DAG,)
    )


def _post(url: str, headers: dict[str, str]) -> int:
    body = b"event=bounce&bounce=hard&email_id=1x-forged&rcpt=victim%40example.com&time=2026-11-26T10%3A00%3A00Z"
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/x-www-form-urlencoded", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _setup_webhook(stack: AirflowStack, url: str) -> None:
    unpaused = "SELECT count(*) FROM dag WHERE dag_id IN (?, ?) AND NOT is_paused"
    stack.wait_for(
        "both e2e webhook DAGs parsed and unpaused",
        lambda: (
            _count(stack, unpaused, (SETUP_DAG, BOUNCE_DAG)) == 2
            and stack.query("SELECT 1 FROM asset_active WHERE uri = ?", (URI,))
        ),
        timeout=120,
    )
    stack.cli("dags", "trigger", SETUP_DAG, "--run-id", "setup", "--conf", json.dumps({"url": url}))

    def setup_state() -> str | None:
        rows = stack.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = 'setup'", (SETUP_DAG,))
        state = rows[0][0] if rows else None
        assert state != "failed", f"the setup DAG failed\n{stack.diagnostics()}"
        return state if state == "success" else None

    stack.wait_for("the setup DAG", setup_state, timeout=180)


def _deliver_paced(stack: AirflowStack) -> None:
    """Move the frozen sandbox clock to each due delivery; wait for a run per event before the next."""
    webhooks = stack.sandbox.webhooks
    for _ in range(MAX_STEPS):
        pending = [d for d in webhooks.deliveries() if d["state"] == "pending"]
        if not pending:
            return
        due = min(datetime.fromisoformat(d["due"].replace("Z", "+00:00")) for d in pending) + timedelta(seconds=1)
        if due > stack.sandbox.clock.now():
            stack.sandbox.clock.set(due)
        assert webhooks.drain(60), "the sandbox did not post its due deliveries"
        stack.wait_for(
            "an asset-triggered run for every recorded bounce",
            lambda: (
                len(_bounce_events(stack)) == _asset_runs(stack)
                and _count(stack, "SELECT count(*) FROM asset_dag_run_queue WHERE target_dag_id = ?", (BOUNCE_DAG,))
                == 0
            ),
            timeout=90,
        )
    raise AssertionError(f"deliveries still pending after {MAX_STEPS} steps")


def _runs_done(stack: AirflowStack) -> list[tuple[str, str]] | None:
    rows = stack.query("SELECT run_id, state FROM dag_run WHERE dag_id = ?", (BOUNCE_DAG,))
    failed = [run_id for run_id, state in rows if state == "failed"]
    assert not failed, f"bounce runs failed: {failed}\n{stack.diagnostics()}"
    return rows if len(rows) == BOUNCES and all(state == "success" for _, state in rows) else None


def _seen_by_each_run(stack: AirflowStack) -> dict[str, list[str]]:
    rows = stack.query(
        "SELECT run_id, value FROM xcom WHERE dag_id = ? AND task_id = 'bounced' AND key = 'return_value'",
        (BOUNCE_DAG,),
    )
    return {run_id: json.loads(value) if isinstance(value, (str, bytes)) else value for run_id, value in rows}


def test_fifty_hard_bounces_give_fifty_asset_triggered_runs(airflow_webhook_stack: AirflowStack) -> None:
    from airflow_provider_smtp2go.client import Email, Smtp2goClient

    stack = airflow_webhook_stack
    sandbox = stack.sandbox
    secret = webhook_secret(stack)
    receiver = f"{stack.api_url}{WEBHOOK_PREFIX}/"
    sandbox.clock.freeze()

    _setup_webhook(stack, receiver)
    [hook] = sandbox.webhook_registry.all()
    assert hook.url == receiver and hook.auth_header_type == "bearer"

    # Refused: no header, a wrong token, the right token under the wrong scheme.
    for headers in ({}, {"Authorization": "Bearer not-the-secret"}, {"Authorization": f"Basic {secret}"}):
        assert _post(receiver, headers) == 401, headers
    assert _bounce_events(stack) == [] and _receipts(stack) == 0

    with Smtp2goClient(sandbox.api_key, base_url=sandbox.base_url, activity_requests_per_minute=None) as smtp2go:
        sandbox.webhooks.inject_fault("out_of_order", event="hard-bounced", count=HELD, delay=400)
        sandbox.webhooks.inject_fault("down", event="hard-bounced", count=2)
        held_to = [_bounce_address(k) for k in range(HELD)] + [_marker_address(k) for k in range(HELD)]
        smtp2go.send(Email(sender="ops@example.com", to=held_to, subject="Invoice", text_body="Hello"))
        sandbox.webhooks.inject_fault("duplicate", event="hard-bounced", count=BOUNCES - HELD)
        doubled_to = [_bounce_address(k) for k in range(HELD, BOUNCES)]
        smtp2go.send(Email(sender="ops@example.com", to=doubled_to, subject="Invoice", text_body="Hello"))

    _deliver_paced(stack)

    deliveries = sandbox.webhooks.deliveries(event="hard-bounced")
    assert {d["state"] for d in deliveries} == {"delivered"}
    assert len(deliveries) == BOUNCES + (BOUNCES - HELD)  # every duplicate was really posted
    attempts = sandbox.webhooks.attempts()
    assert sum(1 for a in attempts if a["event"] == "bounce" and a["status"] is None) == 2  # "down"
    by_recipient = {d["recipient"]: d for d in sandbox.webhooks.deliveries()}
    for k in range(HELD):  # each held bounce went out only after the later event's callback
        held, marker = by_recipient[_bounce_address(k)], by_recipient[_marker_address(k)]
        assert "out_of_order" in held["faults"] and held["attempts"][0]["at"] >= marker["attempts"][0]["at"]

    recorded = _bounce_events(stack)
    wanted = sorted(_bounce_address(k) for k in range(BOUNCES))
    assert len(recorded) == BOUNCES and sorted(e["recipient"] for e in recorded) == wanted
    assert _receipts(stack) == BOUNCES + HELD  # the bounces and the 3 deliveries
    assert _asset_runs(stack) == BOUNCES

    stack.wait_for("all 50 bounce runs to succeed", lambda: _runs_done(stack), timeout=900, interval=2)
    seen = _seen_by_each_run(stack)
    assert len(seen) == BOUNCES and all(len(addresses) == 1 for addresses in seen.values()), seen
    assert sorted(address for addresses in seen.values() for address in addresses) == wanted

    logs = [c.log_path for c in stack.components.values()] + sorted((stack.home / "logs").rglob("*.log"))
    leaked = [str(path) for path in logs if secret in path.read_text(errors="replace")]
    assert not leaked, f"the webhook secret appears in {leaked}"

    # The real api-server's first post froze its startup heap (webhooks/heap.py), and only once.
    froze = [line for line in stack.log_text("api-server").splitlines() if "out of the cyclic garbage" in line]
    assert len(froze) == 1, froze
